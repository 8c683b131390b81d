// Runs the command-line tool in-process against a state directory.
import { main } from '../../lib/cli/main';

export async function runCli(
  stateDir: string,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(
    [...argv, '--state-dir', stateDir],
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}
