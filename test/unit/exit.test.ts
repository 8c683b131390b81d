// An open device with a reader and a pending send never keeps a process alive.
import { runChild } from '../helpers/child';

describe('exit with an open device', () => {
  test.each([
    ['natural', 'poll'],
    ['exit', 'poll'],
    ['natural', 'thread'],
    ['exit', 'thread'],
  ])('socketpair with a pending send: %s, reader %s', async (how, reader) => {
    const r = await runChild(['socketpair', how, reader]);
    expect(r.out).toContain('ready');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  });
});
