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
    // Requests in flight finish on keep-alive sockets that only then turn idle: sweep them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}
