// Math shared by the generated kernels (prepended to them by kernels.py).
//
// Why not WGSL's builtins alone: WGSL leaves NaN/inf behaviour of max/min/log/sqrt/tanh to the
// implementation and rejects non-finite *constant* expressions, while webaccel promises NumPy's
// NaN/inf propagation. NaN tests use the bit pattern so a fast-math compiler cannot fold them,
// and the special values come from private variables (runtime values, not const-expressions).
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;

fn wa_nan() -> f32 { return bitcast<f32>(NAN_BITS); }
fn wa_inf() -> f32 { return bitcast<f32>(INF_BITS); }
fn wa_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn wa_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }

fn wa_max(a: f32, b: f32) -> f32 {
  if (wa_isnan(a)) { return a; }
  if (wa_isnan(b)) { return b; }
  return max(a, b);
}

fn wa_min(a: f32, b: f32) -> f32 {
  if (wa_isnan(a)) { return a; }
  if (wa_isnan(b)) { return b; }
  return min(a, b);
}

fn wa_exp(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  if (x > 88.72283935546875) { return wa_inf(); }
  if (x < -103.97283935546875) { return 0.0; }
  return exp(x);
}

fn wa_log(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  if (x < 0.0) { return wa_nan(); }
  if (x == 0.0) { return -wa_inf(); }
  if (wa_isinf(x)) { return x; }
  return log(x);
}

fn wa_sqrt(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  if (x < 0.0) { return wa_nan(); }
  if (wa_isinf(x)) { return x; }
  return sqrt(x);
}

fn wa_rsqrt(x: f32) -> f32 {
  if (x == 0.0) { return select(wa_inf(), -wa_inf(), bitcast<u32>(x) != 0u); }
  return 1.0 / wa_sqrt(x);
}

// Cephes tanhf: a minimax polynomial near 0, 1 - 2 / (exp(2|x|) + 1) beyond (saturates to
// +-1 for large |x| instead of inf / inf = NaN).
fn wa_tanh(x: f32) -> f32 {
  let a = abs(x);
  if (a >= 0.625) {
    let r = 1.0 - 2.0 / (wa_exp(2.0 * a) + 1.0);
    return select(r, -r, x < 0.0);
  }
  let z = x * x;
  let p = (((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z
    + 1.33314422036e-1) * z - 3.33332819422e-1;
  return p * z * x + x;
}

fn wa_sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + wa_exp(-x)); }
  let e = wa_exp(x);
  return e / (1.0 + e);
}

// erf with max abs error ~1e-7 over f32 (N. Juffa's erff: two minimax pieces, < 1 ulp).
fn wa_erf(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  let t = min(abs(x), 10.0);
  let s = x * x;
  if (t > 0.927734375) {
    var r = fma(-1.72853470e-5, t, 3.83197126e-4);
    let u = fma(-3.88396438e-3, t, 2.42546219e-2);
    r = fma(r, t * t, u);
    r = fma(r, t, -1.06777877e-1);
    r = fma(r, t, -6.34846687e-1);
    r = fma(r, t, -1.28717512e-1);
    r = fma(r, t, -t);
    let v = 1.0 - exp(r);
    return select(v, -v, x < 0.0);
  }
  var r = -5.96761703e-4;
  r = fma(r, s, 4.99119423e-3);
  r = fma(r, s, -2.67681349e-2);
  r = fma(r, s, 1.12819925e-1);
  r = fma(r, s, -3.76125336e-1);
  r = fma(r, s, 1.28379166e-1);
  return fma(r, x, x);
}

fn wa_gelu(x: f32) -> f32 { return 0.5 * x * (1.0 + wa_erf(x * 0.7071067811865476)); }

fn wa_gelu_tanh(x: f32) -> f32 {
  return 0.5 * x * (1.0 + wa_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

// NumPy's float power: negative bases with integral exponents, 0 ** negative = inf.
fn wa_pow(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (wa_isnan(x) || wa_isnan(y)) { return x + y; }
  if (x == 1.0) { return 1.0; }
  let ax = abs(x);
  if (ax == 0.0) { return select(0.0, wa_inf(), y < 0.0); }
  var r: f32;
  if (wa_isinf(ax)) {
    r = select(wa_inf(), 0.0, y < 0.0);
  } else if (wa_isinf(y)) {
    r = select(0.0, wa_inf(), (ax > 1.0) == (y > 0.0));
    if (ax == 1.0) { r = 1.0; }
  } else {
    r = wa_exp2_log2(ax, y);
  }
  if (x < 0.0) {
    if (floor(y) != y) { return wa_nan(); }
    let odd = abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
    return select(r, -r, odd);
  }
  return r;
}

fn wa_exp2_log2(ax: f32, y: f32) -> f32 {
  let l = y * log2(ax);
  if (l > 128.0) { return wa_inf(); }
  if (l < -150.0) { return 0.0; }
  return exp2(l);
}

fn wa_ipow(x: i32, y: i32) -> i32 {
  if (y < 0) {  // NumPy raises here; 1 and -1 are the only bases with an integral answer
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) == 1); }
    return 0;
  }
  var r = 1;
  var b = x;
  var e = y;
  loop {
    if (e == 0) { break; }
    if ((e & 1) == 1) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}

fn wa_sign(x: f32) -> f32 {
  if (wa_isnan(x)) { return x; }
  return sign(x);
}

fn wa_round(x: f32) -> f32 {  // round half to even, as NumPy
  return round(x);
}

fn wa_imod(a: i32, b: i32) -> i32 {  // NumPy's floored modulo; x % 0 gives 0 as NumPy does
  if (b == 0) { return 0; }
  let r = a % b;
  return select(r, r + b, r != 0 && ((r < 0) != (b < 0)));
}
