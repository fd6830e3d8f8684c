;; JSON string escaping of UTF-8 bytes, 16 at a time (SIMD): the recorder's hot path.
;; Source of json-escape-wasm.ts (scripts/build-wasm.mjs assembles it; a test checks the two agree).
;;
;; Memory (the caller fills the tables once and the input before each call):
;;   0      .. 256     escape length per byte value (0: the byte is copied as it is)
;;   256    .. 2304    escape bytes per byte value, 8 bytes each (at most 6 used: \u001b)
;;   4096   .. 69632   input, at most 65536 bytes
;;   69632  .. 462864  output: at most 6 bytes per input byte, and 16 spare for the last store
;; escape(len) escapes input[0..len) into output and returns the output's length.
(module
  (memory (export "memory") 8)
  (func (export "escape") (param $len i32) (result i32)
    (local $i i32) (local $o i32) (local $end i32) (local $m i32) (local $b i32)
    (local $v v128) (local $ctl v128) (local $quote v128) (local $slash v128)
    (local.set $ctl (i8x16.splat (i32.const 0x20)))
    (local.set $quote (i8x16.splat (i32.const 0x22)))
    (local.set $slash (i8x16.splat (i32.const 0x5c)))
    (local.set $i (i32.const 4096))
    (local.set $o (i32.const 69632))
    (local.set $end (i32.add (i32.const 4096) (local.get $len)))
    (block $vectors_done
      (loop $vectors
        (br_if $vectors_done (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
        (local.set $v (v128.load (local.get $i)))
        ;; Stored whole; what follows an escaped byte is overwritten by its escape and the rest.
        (v128.store (local.get $o) (local.get $v))
        (local.set $m
          (i8x16.bitmask
            (v128.or
              (i8x16.lt_u (local.get $v) (local.get $ctl))
              (v128.or
                (i8x16.eq (local.get $v) (local.get $quote))
                (i8x16.eq (local.get $v) (local.get $slash))))))
        (if (i32.eqz (local.get $m))
          (then
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $vectors)))
        ;; Keep the clean bytes before the first one to escape, then escape it.
        (local.set $m (i32.ctz (local.get $m)))
        (local.set $i (i32.add (local.get $i) (local.get $m)))
        (local.set $o (i32.add (local.get $o) (local.get $m)))
        (local.set $b (i32.load8_u (local.get $i)))
        (i64.store (local.get $o) (i64.load offset=256 (i32.shl (local.get $b) (i32.const 3))))
        (local.set $o (i32.add (local.get $o) (i32.load8_u (local.get $b))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $vectors)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $b (i32.load8_u (local.get $i)))
        (if (i32.eqz (i32.load8_u (local.get $b)))
          (then
            (i32.store8 (local.get $o) (local.get $b))
            (local.set $o (i32.add (local.get $o) (i32.const 1))))
          (else
            (i64.store (local.get $o) (i64.load offset=256 (i32.shl (local.get $b) (i32.const 3))))
            (local.set $o (i32.add (local.get $o) (i32.load8_u (local.get $b))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (i32.sub (local.get $o) (i32.const 69632))))
