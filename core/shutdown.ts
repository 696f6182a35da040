import type http from 'node:http';

/**
 * Stops accepting connections and waits for in-flight requests to finish (idle keep-alive
 * sockets are closed at once); after `graceMs` the rest are cut.
 */
export function drainServer(server: http.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
