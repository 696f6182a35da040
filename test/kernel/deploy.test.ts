import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { loadGateway } from '../../core/gateway.js';
import { repoRoot } from '../support/process.js';

type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  ports?: string[];
};

const compose = YAML.parse(readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};

/** Resolves ${VAR:-default} the way compose does when VAR is unset. */
const substitute = (value: string) =>
  value.replace(/\$\{[A-Z_]+(?::-([^}]*))?\}/g, (_m, fallback: string | undefined) => fallback ?? '');

describe('deployment files (docker cannot run here, so they are checked statically)', () => {
  it('runs gateway (serve), worker (work), mongo:7, redis:7 and a TLS proxy, each with a healthcheck', () => {
    const { services } = compose;
    expect(services.gateway.command).to.deep.equal(['serve']);
    expect(services.worker.command).to.deep.equal(['work']);
    expect(services.mongo.image).to.equal('mongo:7');
    expect(services.redis.image).to.equal('redis:7');
    expect(services.redis.command).to.include.members(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']);
    expect(services.proxy.ports).to.include('443:443');
    for (const name of ['gateway', 'worker', 'mongo', 'redis', 'proxy']) {
      expect(services[name].healthcheck, name).to.have.property('test');
    }
    expect(Object.keys(compose.volumes)).to.include.members(['mongo-data', 'redis-data', 'caddy-data', 'secrets']);
    expect(services.worker.ports, 'workers must scale with --scale, so they publish no ports').to.equal(undefined);
  });

  it('gives the gateway and worker only settings the config schema knows, and they load', async () => {
    for (const name of ['gateway', 'worker']) {
      const env = Object.fromEntries(
        Object.entries(compose.services[name].environment ?? {}).map(([key, value]) => [
          key,
          substitute(String(value)),
        ]),
      );
      delete env.HEALTH_PORT;
      env.GATEWAY_SECURITY__MASTER_KEY_FILE = path.join(repoRoot, 'test', 'fixtures', 'master-key');
      const gateway = await loadGateway({ role: name === 'gateway' ? 'serve' : 'work', env });
      expect(gateway.config.http.trustProxy).to.equal(true);
      expect(gateway.config.publicUrl).to.equal('https://localhost');
    }
  });

  it('lets through the proxy exactly what each route family of the gateway accepts', async () => {
    const caddyfile = readFileSync(path.join(repoRoot, 'config/caddy/Caddyfile'), 'utf8');
    const mebibytes = (matcher: string) => {
      const size = caddyfile.match(new RegExp(`request_body @${matcher} \\{\\s*max_size (\\d+)MiB`))?.[1];
      if (!size) throw new Error(`Caddyfile: no request_body max_size for @${matcher}`);
      return Number(size) * 1024 * 1024;
    };
    expect(caddyfile).to.match(/@device path \/mdm\/\*/);
    expect(caddyfile).to.match(/@other not path \/mdm\/\*/);
    const gateway = await loadGateway({
      role: 'serve',
      env: { GATEWAY_SECURITY__MASTER_KEY_FILE: path.join(repoRoot, 'test', 'fixtures', 'master-key') },
    });
    const families = gateway.plugins.flatMap((plugin) =>
      plugin.routes.map((route) => ({
        prefix: route.prefix,
        limit: route.bodyLimitBytes ?? gateway.config.http.bodyLimitBytes,
      })),
    );
    const device = families.filter((family) => family.prefix === '/mdm');
    const other = families.filter((family) => family.prefix !== '/mdm');
    expect(device).to.have.length(1);
    expect(mebibytes('device')).to.equal(device[0].limit);
    expect(mebibytes('other')).to.equal(Math.max(...other.map((family) => family.limit)));
  });

  it('builds a multi-stage image whose entry point is the gateway command', () => {
    const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)).to.have.length(2);
    expect(dockerfile).to.include('ENTRYPOINT ["node", "/app/dist/core/cli/main.js"]');
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    expect(pkg.bin.gateway).to.equal('./dist/core/cli/main.js');
    for (const dir of ['core', 'plugins', 'config']) expect(dockerfile).to.include(`COPY ${dir} ${dir}`);
  });
});
