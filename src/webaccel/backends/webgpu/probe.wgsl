// The capability probe: detect() runs it to prove the adapter computes, not only that it exists.
// out[i] = in[i] * 2 + 1 over a small buffer, one invocation per element.
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < arrayLength(&src)) {
    dst[i] = src[i] * 2.0 + 1.0;
  }
}
