// webaccel.store's IndexedDB glue: IDB requests and transactions as promises.
// Evaluated once with pyodide.code.run_js; the value of the file is the helper object.
//
// Each put/delete is ONE readwrite transaction, resolved on its `complete` event and rejected
// on `abort`: a commit is all-or-nothing. Values are ArrayBuffers copied once from Python
// memory (PyProxy.getBuffer) and read back with one to_bytes() on the Python side.
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
  const readwrite = (db, stores) => {
    try {
      return db.transaction(stores, "readwrite", { durability: "strict" });
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
    get(db, ns, key) {
      const tx = db.transaction([ns], "readonly");
      return request(tx.objectStore(ns).get(key));
    },
    async keys(db, ns) {
      const tx = db.transaction([ns], "readonly");
      const keys = await request(tx.objectStore(ns).getAllKeys());
      return keys.map(String);
    },
    putMany(db, ns, keys, values) {
      const tx = readwrite(db, [ns]);
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
    deleteMany(db, ns, keys) {
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
    async estimateQuota() {
      const storage = globalThis.navigator?.storage;
      if (!storage?.estimate) return null;
      const estimate = await storage.estimate();
      return estimate.quota ?? null;
    },
  };
})()
