// webaccel.store's chunk reader, run in a Web Worker (a few of them per page). The store asks
// it for chunks while loading: it reads each one from IndexedDB, verifies and decodes it with
// the same code as the page (`glue`: js_glue/idb_glue.js, prepended when the worker is made)
// and hands the ArrayBuffer back to the page by transfer (no copy).
//
// Why a worker: reading a 32 MiB value materializes it (copies it out of IndexedDB's storage
// into a fresh ArrayBuffer) on the thread that touches `request.result`, and the checksum is
// ~10 ms more. On the page's thread those run one chunk after another and hold up the device
// uploads of the chunks before them (and the page itself); in workers they run beside each
// other and beside the uploads.
//
// Messages in: {id, name, version, stores, spec: [key, codec, size, check]} reads one chunk of
// database `name`; {close: name} drops the connection. Out: {id, value, why} ("" when good;
// value null and why the reason otherwise), {id, error} if the read itself failed.
const connections = new Map(); // database name -> promise of an open IDBDatabase

const connect = (name, version, stores) => {
  if (!connections.has(name)) {
    const opening = glue.open(name, version, stores);
    opening.catch(() => connections.delete(name));
    connections.set(name, opening);
  }
  return connections.get(name);
};

const readChunk = async (name, version, stores, key) => {
  for (let attempt = 0; ; attempt++) {
    const db = await connect(name, version, stores);
    try {
      return await glue.get(db, "chunks", key);
    } catch (err) {
      // closed meanwhile (another page upgraded the schema, or the store was closed): reopen once
      if (attempt > 0 || err?.name !== "InvalidStateError") throw err;
      connections.delete(name);
    }
  }
};

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.close !== undefined) {
    const db = connections.get(msg.close);
    connections.delete(msg.close);
    if (db) db.then((d) => d.close(), () => {});
    return;
  }
  const { id, name, version, stores, spec } = msg;
  const [key, codec, size, check] = spec;
  try {
    const value = await readChunk(name, version, stores, key);
    const [raw, why] = await glue.checkChunk(value, key, codec, size, check);
    self.postMessage({ id, value: raw, why }, raw ? [raw] : []);
  } catch (err) {
    self.postMessage({ id, error: `${err?.name ?? "Error"}: ${err?.message ?? err}` });
  }
};
