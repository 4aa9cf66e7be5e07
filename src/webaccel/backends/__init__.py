"""Compute backends: ``webgpu`` (WGSL kernels driven through the JS FFI of Pyodide)."""
