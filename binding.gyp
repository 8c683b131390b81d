{
  # Release build (node-gyp / prebuildify). The source list and NAPI_VERSION
  # come from native/sources.json, which CMakeLists.txt reads too.
  'targets': [
    {
      'target_name': 'vpn_provider',
      'sources': ['<!@(node -p "require(\'./native/sources.js\').all.join(\' \')")'],
      'include_dirs': ['native'],
      'dependencies': [
        '<!(node -p "require(\'node-addon-api\').targets"):node_addon_api_except',
      ],
      'defines': [
        'NAPI_VERSION=<!(node -p "require(\'./native/sources.js\').napiVersion")',
      ],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-std=gnu++17', '-std=gnu++1y', '-std=gnu++20'],
      'cflags': ['-fvisibility=hidden', '-Wall', '-Wextra', '-O3'],
      'cflags_cc': ['-std=c++17', '-fvisibility=hidden', '-Wall', '-Wextra', '-Wno-missing-field-initializers', '-O3'],
      'ldflags': ['-Wl,--as-needed'],
    },
  ],
}
