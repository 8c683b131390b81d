import { parseSleepSignal } from '../../lib/platform/monitor';

test("logind's PrepareForSleep as gdbus monitor prints it", () => {
  expect(
    parseSleepSignal(
      '/org/freedesktop/login1: org.freedesktop.login1.Manager.PrepareForSleep (true,)',
    ),
  ).toBe('suspend');
  expect(
    parseSleepSignal(
      '/org/freedesktop/login1: org.freedesktop.login1.Manager.PrepareForSleep (false,)',
    ),
  ).toBe('resume');
  expect(
    parseSleepSignal('/org/freedesktop/login1: org.freedesktop.DBus.Properties.PropertiesChanged'),
  ).toBeNull();
});
