// An open device with a reader and a pending send never keeps a process alive.
import { runChild } from '../helpers/child';

describe('exit with an open device', () => {
  test.each(['natural', 'exit'])('socketpair with a pending send: %s', async (how) => {
    const r = await runChild(['socketpair', how]);
    expect(r.out).toContain('ready');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  });
});
