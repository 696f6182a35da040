import pino, { type Logger } from 'pino';

/** JSON logs on stdout; secrets are redacted by path as a second line of defence. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'enrollment-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          '*.password',
          '*.privateKey',
          '*.keyPem',
          '*.masterKey',
          'req.headers.cookie',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
