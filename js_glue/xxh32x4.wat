;; The rounds of the store's chunk checksum "xxh32x4" (js_glue/idb_glue.js): four xxHash32
;; lanes over 16-byte stripes of little-endian words. Memory: the four lane accumulators at
;; bytes 0-15, the data from byte 16. `rounds(n)` runs the lanes over n bytes (a multiple of 16)
;; and leaves the accumulators at 0-15. idb_glue.js embeds this module as base64;
;; `python tools/build_wasm.py` rebuilds that string from this file (wasmtime's wat2wasm).
(module
  (memory (export "memory") 5)
  (func (export "rounds") (param $n i32)
    (local $p i32) (local $end i32) (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local.set $a (i32.load (i32.const 0)))
    (local.set $b (i32.load offset=4 (i32.const 0)))
    (local.set $c (i32.load offset=8 (i32.const 0)))
    (local.set $d (i32.load offset=12 (i32.const 0)))
    (local.set $p (i32.const 16))
    (local.set $end (i32.add (local.get $n) (i32.const 16)))
    (block $done
      (loop $stripe
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        ;; acc = rotl(acc + word * PRIME2, 13) * PRIME1, PRIME1 = 2654435761, PRIME2 = 2246822519
        (local.set $a (i32.mul (i32.rotl (i32.add (local.get $a)
          (i32.mul (i32.load offset=0 (local.get $p)) (i32.const -2048144777))) (i32.const 13))
          (i32.const -1640531535)))
        (local.set $b (i32.mul (i32.rotl (i32.add (local.get $b)
          (i32.mul (i32.load offset=4 (local.get $p)) (i32.const -2048144777))) (i32.const 13))
          (i32.const -1640531535)))
        (local.set $c (i32.mul (i32.rotl (i32.add (local.get $c)
          (i32.mul (i32.load offset=8 (local.get $p)) (i32.const -2048144777))) (i32.const 13))
          (i32.const -1640531535)))
        (local.set $d (i32.mul (i32.rotl (i32.add (local.get $d)
          (i32.mul (i32.load offset=12 (local.get $p)) (i32.const -2048144777))) (i32.const 13))
          (i32.const -1640531535)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $stripe)))
    (i32.store (i32.const 0) (local.get $a))
    (i32.store offset=4 (i32.const 0) (local.get $b))
    (i32.store offset=8 (i32.const 0) (local.get $c))
    (i32.store offset=12 (i32.const 0) (local.get $d))))
