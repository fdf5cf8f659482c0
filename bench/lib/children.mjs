// The child processes of a bench run: a stop for each that also kills it should the run end
// first. (redis-server itself comes from @anyws/redis/testing, as the package's tests start it.)
import { once } from 'node:events';

/** Kills `child` should this process end first; returns its stop (SIGKILL, resolves on exit). */
export function stopper(child) {
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  return async () => {
    process.off('exit', kill);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
}
