// webaccel.store's IndexedDB glue: IDB requests and transactions as promises, plus the store's
// fast path (hashing with crypto.subtle, compressing with CompressionStream, the cross-page lock).
// Evaluated once with pyodide.code.run_js; the value of the file is the helper object.
//
// Each put/delete is ONE readwrite transaction, resolved on its `complete` event and rejected
// on `abort`: a commit is all-or-nothing. Values are ArrayBuffers: a chunk is copied once from
// Python memory into a fresh ArrayBuffer (`alloc` + JsBuffer.assign on the Python side), hashed
// and maybe compressed here, and stored; reading, a chunk is fetched, verified and decoded here
// and copied once into its tensor's Python buffer (JsBuffer.assign_to), or written from here
// to a WebGPU device (webaccel's webgpu device, write_from_js).
(() => {
  const request = (req) =>
    new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  const done = (tx) =>
    new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = () =>
        reject(tx.error ?? new DOMException("IndexedDB transaction aborted", "AbortError"));
    });
  const hex = (digest) =>
    Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (data) => hex(await crypto.subtle.digest("SHA-256", data));
  // The fast chunk checksum "xxh32x4": four xxHash32 lanes over 16-byte stripes (little-endian
  // words; the tail zero-padded to a stripe), the length folded in, the lanes as 32 hex digits.
  // Not cryptographic, but any change within one word always changes its lane (each round is a
  // bijection). webaccel.store.chunks.xxh32x4 is the reference (Python).
  // Speed (Chromium, 32 MiB): the WebAssembly rounds below ~10 ms (half of it copying the data
  // into wasm memory), the JS loop ~23 ms, crypto.subtle's SHA-256 ~100 ms. Loads verify every
  // chunk, so this is on the load's critical path.
  const P1 = 2654435761 | 0;
  const P2 = 2246822519 | 0;
  const round = (acc, word) => {
    const x = (acc + Math.imul(word, P2)) | 0;
    return Math.imul((x << 13) | (x >>> 19), P1);
  };
  // The rounds over whole stripes in JS (where there is no WebAssembly): Int32Array, not
  // Uint32Array (words above 2^31 would become doubles in V8's optimized code), rounds inlined.
  const roundsJS = (lanes, u8, body) => {
    let [a, b, c, d] = lanes;
    const w = u8.byteOffset % 4 === 0
      ? new Int32Array(u8.buffer, u8.byteOffset, body >>> 2)
      : new Int32Array(u8.slice(0, body).buffer);
    const n = w.length;
    for (let i = 0; i < n; i += 4) {
      let x = (a + Math.imul(w[i], P2)) | 0;
      a = Math.imul((x << 13) | (x >>> 19), P1);
      x = (b + Math.imul(w[i + 1], P2)) | 0;
      b = Math.imul((x << 13) | (x >>> 19), P1);
      x = (c + Math.imul(w[i + 2], P2)) | 0;
      c = Math.imul((x << 13) | (x >>> 19), P1);
      x = (d + Math.imul(w[i + 3], P2)) | 0;
      d = Math.imul((x << 13) | (x >>> 19), P1);
    }
    return [a, b, c, d];
  };
  // The same rounds in WebAssembly (i32.rotl, no bounds checks: ~2x the JS loop), over blocks
  // of 256 KiB copied into its memory (they stay in cache). The module (252 bytes) is built
  // from js_glue/xxh32x4.wat by `python tools/build_wasm.py` (wasmtime's wat2wasm; the host
  // test tests/test_wasm_glue.py checks this string is that build and runs it against the
  // Python reference); tests/browser/test_store_browser.py checks it against roundsJS.
  const WASM_ROUNDS =
    "AGFzbQEAAAABBQFgAX8AAwIBAAUDAQAFBxMCBm1lbW9yeQIABnJvdW5kcwAACswBAckBAQZ/QQAoAgAhA0EAKAIE" +
    "IQRBACgCCCEFQQAoAgwhBkEQIQEgAEEQaiECAkADQCABIAJPDQEgAyABKAIAQfeUr694bGpBDXdBsfPd8XlsIQMg" +
    "BCABKAIEQfeUr694bGpBDXdBsfPd8XlsIQQgBSABKAIIQfeUr694bGpBDXdBsfPd8XlsIQUgBiABKAIMQfeUr694" +
    "bGpBDXdBsfPd8XlsIQYgAUEQaiEBDAALC0EAIAM2AgBBACAENgIEQQAgBTYCCEEAIAY2AgwL";
  const BLOCK = 256 * 1024;
  const roundsWasm = (() => {
    try {
      const bytes = Uint8Array.from(atob(WASM_ROUNDS), (ch) => ch.charCodeAt(0));
      const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
      const { memory, rounds } = exports;
      return (lanes, u8, body) => {
        const state = new Int32Array(memory.buffer, 0, 4);
        state.set(lanes);
        const block = new Uint8Array(memory.buffer, 16, BLOCK);
        for (let pos = 0; pos < body; pos += BLOCK) {
          const n = Math.min(BLOCK, body - pos);
          block.set(u8.subarray(pos, pos + n));
          rounds(n);
        }
        return Array.from(state);
      };
    } catch {
      return null; // no WebAssembly here (or it is switched off): the JS loop
    }
  })();
  const xxh32x4 = (data, useWasm = true) => {
    const u8 = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    const body = u8.byteLength & ~15;
    const init = [0x9e3779b1 | 0, 0x85ebca77 | 0, 0xc2b2ae3d | 0, 0x27d4eb2f | 0];
    let [a, b, c, d] = (useWasm && roundsWasm ? roundsWasm : roundsJS)(init, u8, body);
    if (body < u8.byteLength) {
      const tail = new Uint8Array(16);
      tail.set(u8.subarray(body));
      const t = new Int32Array(tail.buffer);
      a = round(a, t[0]);
      b = round(b, t[1]);
      c = round(c, t[2]);
      d = round(d, t[3]);
    }
    a ^= u8.byteLength | 0;
    b ^= Math.floor(u8.byteLength / 4294967296) | 0;
    return [a, b, c, d].map((v) => (v >>> 0).toString(16).padStart(8, "0")).join("");
  };
  // "zlib" and "deflate" are one format (RFC 1950): CompressionStream calls it "deflate".
  const FORMATS = { zlib: "deflate", deflate: "deflate", gzip: "gzip" };
  const transform = async (data, stream) =>
    new Response(new Blob([data]).stream().pipeThrough(stream)).arrayBuffer();
  const compress = (codec, data) => transform(data, new CompressionStream(FORMATS[codec]));
  const decompress = (codec, data) => transform(data, new DecompressionStream(FORMATS[codec]));
  const checkChunk = async (value, key, codec, size, check) => {
    if (value === undefined) return [null, "missing"];
    if (check && check.startsWith("xxh32x4:")) {
      if ("xxh32x4:" + xxh32x4(value) !== check) return [null, "xxh32x4 checksum mismatch"];
    } else if ((await sha256(value)) !== key) {
      return [null, "sha-256 mismatch"];
    }
    let raw = value;
    if (codec !== "none") {
      if (!FORMATS[codec]) return [null, `unknown codec ${codec}`];
      try {
        raw = await decompress(codec, value);
      } catch (err) {
        return [null, `${codec} will not decode: ${err}`];
      }
    }
    if (raw.byteLength !== size) return [null, "wrong length"];
    return [raw, ""];
  };
  // The chunk readers in Web Workers (js_glue/idb_worker.js, with this file prepended as its
  // `glue`): made once per page by startWorkers; `pool` is false where they cannot be made (no
  // Worker, or a policy that refuses blob: workers), and a worker that fails hands its chunks
  // back to the page's thread, so a load never waits on a dead worker.
  let pool = null;
  let nextId = 0;
  let turn = 0;
  const pending = new Map(); // id -> {worker, resolve, reject, onPage}
  const retire = (worker) => {
    if (pool) {
      pool = pool.filter((w) => w !== worker);
      if (pool.length === 0) pool = false;
    }
    for (const [id, p] of pending) {
      if (p.worker !== worker) continue;
      pending.delete(id);
      p.onPage().then(p.resolve, p.reject);
    }
    worker.terminate();
  };
  const makePool = (source, n) => {
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const workers = [];
    for (let i = 0; i < n; i++) {
      const worker = new Worker(url, { name: `webaccel-store-${i}` });
      worker.onmessage = ({ data }) => {
        const p = pending.get(data.id);
        if (!p) return;
        pending.delete(data.id);
        if (data.error !== undefined) p.reject(new Error(`store worker: ${data.error}`));
        else p.resolve([data.value ?? null, data.why]);
      };
      worker.onerror = (event) => {
        event.preventDefault?.();
        retire(worker);
      };
      worker.onmessageerror = () => retire(worker);
      workers.push(worker);
    }
    return workers;
  };
  const readwrite = (db, stores, durability = "strict") => {
    try {
      return db.transaction(stores, "readwrite", { durability });
    } catch (err) {
      if (err instanceof TypeError) return db.transaction(stores, "readwrite");
      throw err;
    }
  };
  return {
    // Open (creating or migrating) database `name` at schema `version` with `stores`.
    open(name, version, stores) {
      return new Promise((resolve, reject) => {
        const req = indexedDB.open(name, version);
        req.onupgradeneeded = () => {
          const db = req.result;
          for (const ns of stores) {
            if (!db.objectStoreNames.contains(ns)) db.createObjectStore(ns);
          }
        };
        req.onsuccess = () => {
          const db = req.result;
          // Another tab wants a newer schema: let it upgrade rather than block it.
          db.onversionchange = () => db.close();
          resolve(db);
        };
        req.onerror = () => reject(req.error);
        req.onblocked = () =>
          reject(new Error(`IndexedDB database ${name} is held open at an older schema by another tab; close it and retry`));
      });
    },
    // One copy: Python buffer -> a fresh ArrayBuffer (the argument proxy is borrowed).
    copyIn(value) {
      const buf = value.getBuffer("u8");
      try {
        const out = new ArrayBuffer(buf.data.byteLength);
        new Uint8Array(out).set(buf.data);
        return out;
      } finally {
        buf.release();
      }
    },
    // Promise-returning calls are async functions: a synchronous throw (a bad key, a closed
    // connection) becomes a rejection, the one error path the Python side awaits. (Pyodide
    // 0.27 once turned such a throw, from a call inside an awaited expression, into
    // "SystemError: error return without exception set".)
    async get(db, ns, key) {
      const tx = db.transaction([ns], "readonly");
      return request(tx.objectStore(ns).get(key));
    },
    // Every [keys, values] of a namespace, read in one transaction (a consistent snapshot)
    async items(db, ns) {
      const store = db.transaction([ns], "readonly").objectStore(ns);
      const [keys, values] = await Promise.all([
        request(store.getAllKeys()),
        request(store.getAll()),
      ]);
      return [keys.map(String), values];
    },
    async keys(db, ns) {
      const tx = db.transaction([ns], "readonly");
      const keys = await request(tx.objectStore(ns).getAllKeys());
      return keys.map(String);
    },
    // durable=false: "relaxed" durability (no flush to disk before `complete`; still atomic).
    async putMany(db, ns, keys, values, durable = true) {
      const tx = readwrite(db, [ns], durable ? "strict" : "relaxed");
      const finished = done(tx);
      const store = tx.objectStore(ns);
      try {
        for (let i = 0; i < keys.length; i++) store.put(values[i], keys[i]);
      } catch (err) {
        finished.catch(() => {});
        tx.abort(); // nothing of this commit lands
        throw err;
      }
      return finished;
    },
    async deleteMany(db, ns, keys) {
      const tx = readwrite(db, [ns]);
      const finished = done(tx);
      const store = tx.objectStore(ns);
      try {
        for (const key of keys) store.delete(key);
      } catch (err) {
        finished.catch(() => {});
        tx.abort();
        throw err;
      }
      return finished;
    },
    // The fast path needs WebCrypto (secure contexts: https, localhost, 127.0.0.1).
    fastPath() {
      return Boolean(globalThis.crypto?.subtle?.digest);
    },
    alloc(n) {
      return new Uint8Array(n);
    },
    sha256(data) {
      return sha256(data);
    },
    xxh32x4,
    wasmChecksum: () => roundsWasm !== null,
    compress,
    decompress,
    // Pass 1 of a save: [stored ArrayBuffer, its sha-256 hex, its size, codec used, its
    // xxh32x4 checksum]; compressed only where that makes the chunk smaller.
    async encodeChunk(raw, codec) {
      let blob = raw.buffer;
      let used = "none";
      if (codec !== "none") {
        const packed = await compress(codec, raw);
        if (packed.byteLength < raw.byteLength) [blob, used] = [packed, codec];
      }
      return [blob, await sha256(blob), blob.byteLength, used, "xxh32x4:" + xxh32x4(blob)];
    },
    // Chunks verified and decoded, read in ONE readonly transaction with every get issued at
    // once (as fast as IndexedDB reads): one promise per [key, codec, size, check] spec, each
    // resolving to [ArrayBuffer, ""], or to [null, why] when the chunk is missing, fails its
    // checksum (`check`, "xxh32x4:<hex>", else its sha-256 `key`), will not decode or has the
    // wrong length. Each is checked as soon as it arrives.
    getChunks(db, specs) {
      const store = db.transaction(["chunks"], "readonly").objectStore("chunks");
      return specs.map(([key, codec, size, check]) =>
        request(store.get(key)).then((value) => checkChunk(value, key, codec, size, check)));
    },
    // Start the page's chunk-reading workers (once; `source` is js_glue/idb_worker.js with
    // this file prepended): how many there are, 0 where workers cannot be made.
    startWorkers(source, n) {
      if (pool === null) {
        try {
          pool = n > 0 && typeof Worker === "function" ? makePool(source, n) : false;
        } catch {
          pool = false;
        }
      }
      return pool ? pool.length : 0;
    },
    // getChunks, read by the workers (each chunk by the next worker in turn, in its own
    // readonly transaction: the store's lock keeps writers out meanwhile); `db` is the page's
    // connection to the same database, for chunks whose worker fails.
    getChunksOff(db, name, version, stores, specs) {
      if (!pool) return this.getChunks(db, specs);
      return specs.map((spec) => new Promise((resolve, reject) => {
        const id = nextId++;
        const worker = pool[turn++ % pool.length];
        const onPage = () => this.getChunks(db, [spec])[0];
        pending.set(id, { worker, resolve, reject, onPage });
        worker.postMessage({ id, name, version, stores: Array.from(stores), spec: Array.from(spec) });
      }));
    },
    // The workers drop their connections to database `name` (the store is closing).
    closeWorkers(name) {
      for (const worker of pool || []) worker.postMessage({ close: name });
    },
    checkChunk,
    async getChunk(db, key, codec, size, check) {
      return (await this.getChunks(db, [[key, codec, size, check]]))[0];
    },
    // The store's cross-page lock (Web Locks): resolves, once granted, to the function that
    // releases it; a closed page releases its locks. null where there are no Web Locks.
    lock(name, exclusive) {
      const locks = globalThis.navigator?.locks;
      if (!locks?.request) return Promise.resolve(null);
      return new Promise((granted, failed) => {
        locks
          .request(name, { mode: exclusive ? "exclusive" : "shared" }, () =>
            new Promise((release) => granted(() => release())))
          .catch(failed);
      });
    },
    async estimateQuota() {
      const storage = globalThis.navigator?.storage;
      if (!storage?.estimate) return null;
      const estimate = await storage.estimate();
      return estimate.quota ?? null;
    },
  };
})()
