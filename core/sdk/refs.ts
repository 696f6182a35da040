/**
 * Typed handles that let plugins meet without importing each other:
 * a service ref names a service in the container, an extension point ref names
 * a list of contributions owned by one plugin.
 */
export interface ServiceRef<T> {
  readonly kind: 'service';
  readonly id: string;
  /** Phantom field that carries the service type; never set at run time. */
  readonly __type?: T;
}

export interface ExtensionPointRef<T> {
  readonly kind: 'extension-point';
  readonly id: string;
  readonly __type?: T;
}

const serviceIdPattern = /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$/;

/** Service ids are dotted camelCase ("mdm.commands"); awilix stores them under that key. */
export function createServiceRef<T>(id: string): ServiceRef<T> {
  if (!serviceIdPattern.test(id)) throw new TypeError(`invalid service id "${id}"`);
  return Object.freeze({ kind: 'service', id }) as ServiceRef<T>;
}

export function createExtensionPoint<T>(id: string): ExtensionPointRef<T> {
  if (!serviceIdPattern.test(id)) throw new TypeError(`invalid extension point id "${id}"`);
  return Object.freeze({ kind: 'extension-point', id }) as ExtensionPointRef<T>;
}
