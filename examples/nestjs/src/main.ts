// main.ts: read the configuration first, and only then load NestJS and
// the rest (seconds on a busy machine): a malformed variable ends the
// process at once with an error naming it.
import { loadConfig, type Config } from './config.js';

let cfg: Config;
try {
  cfg = loadConfig();
} catch (err) {
  process.stderr.write(`nestjs example: ${(err as Error).message}\n`);
  process.exit(2);
}

try {
  const { start } = await import('./server.js');
  await start(cfg);
} catch (err) {
  process.stderr.write(`nestjs example: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
}
