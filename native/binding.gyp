{
  "targets": [
    {
      "target_name": "attnc_native",
      "sources": ["attnc_native.cc"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fopenmp", "-fexceptions"],
      "cflags!": ["-fno-exceptions"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu/openblas-pthread"],
      "libraries": ["-ldnnl", "-lopenblas", "-fopenmp"]
    }
  ]
}
