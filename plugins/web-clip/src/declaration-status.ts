const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether the status item `management.declarations` reports the configuration valid and active. */
export function declarationInstalled(value: unknown, identifier: string): boolean {
  const configurations = isDict(value) && Array.isArray(value.configurations) ? value.configurations : [];
  return configurations.some(
    (c) => isDict(c) && c.identifier === identifier && c._removed !== true && c.valid === 'valid' && c.active === true,
  );
}
