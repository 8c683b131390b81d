'use strict';
// The one list of native sources and the N-API version, read by binding.gyp
// (through `node -p`) and by CMakeLists.txt (through file(READ) + string(JSON)).
const sources = require('./sources.json');

module.exports = {
  napiVersion: sources.napi_version,
  core: sources.core,
  binding: sources.binding,
  all: [...sources.core, ...sources.binding],
};

if (require.main === module) {
  // `node native/sources.js` prints the addon's sources, one per line.
  process.stdout.write(module.exports.all.join('\n') + '\n');
}
