// webaccel's JavaScript glue: only what Python cannot do well through Pyodide's FFI.
// Evaluated once with pyodide.code.run_js; the value of the file is the helper object.
//
// Why these exist: WebIDL objects (GPUAdapterInfo, GPUSupportedLimits) keep their values in
// getters on the prototype, so Object.keys()/to_py() see nothing; a for...in walk does.
(() => {
  const plain = (obj) => {
    const out = {};
    if (obj == null) return out;
    for (const key in obj) {
      const value = obj[key];
      if (typeof value !== "function") out[key] = value;
    }
    return out;
  };
  return {
    plain,
    adapterInfo(adapter) {
      const info = plain(adapter.info);
      // Older Chromes kept the flag on the adapter itself.
      if (info.isFallbackAdapter === undefined && "isFallbackAdapter" in adapter) {
        info.isFallbackAdapter = adapter.isFallbackAdapter;
      }
      return info;
    },
    features: (setlike) => Array.from(setlike ?? []).sort(),
    // An IDBRequest as a promise: IndexedDB reports through events, which Python would have
    // to catch with long-lived proxies; a promise is one await away.
    idbRequest(request) {
      return new Promise((resolve, reject) => {
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
        request.onblocked = () => reject(new Error("IndexedDB request blocked by another tab"));
      });
    },
  };
})()
