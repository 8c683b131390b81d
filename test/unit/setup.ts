// Unit tests run in this machine's own network namespace: none of them may
// create a device or change links, addresses, routes or rules. Every native
// call that would, throws here; such a test belongs in test/integration,
// which npm test runs inside a private namespace.
import { native } from '../../lib/native';

const mutating = [
  'openTun',
  'setLink',
  'deleteLink',
  'addAddress',
  'deleteAddress',
  'changeRoutes',
  'flushTable',
  'addRule',
  'deleteRule',
  'flushRules',
  'flushRoutingSync',
  'setTunPersist',
  'setSocketMark',
] as const;

for (const name of mutating) {
  (native as unknown as Record<string, unknown>)[name] = () => {
    throw new Error(
      `unit tests may not call native.${name}: this test belongs in test/integration`,
    );
  };
}
