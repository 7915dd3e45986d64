{
  "targets": [
    {
      "target_name": "eniwall",
      "sources": [
        "<!@(ls -1 native/src/*.c)",
        "native/napi/addon.cc"
      ],
      "include_dirs": [
        "native/include",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "libraries": ["-luring", "-lpthread"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++14"],
      "cflags_c": [
        "-O2", "-g", "-std=c11", "-Wall", "-Wextra", "-Wconversion", "-Werror",
        "-fvisibility=hidden", "-D_GNU_SOURCE"
      ],
      "cflags_cc": [
        "-O2", "-g", "-std=c++17", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-fexceptions",
        "-fvisibility=hidden", "-D_GNU_SOURCE"
      ]
    }
  ]
}
