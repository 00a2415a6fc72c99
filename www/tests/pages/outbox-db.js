// What the test pages read straight from IndexedDB, beside the client: the ids of the entries
// in the outbox database of storage key `key` (for checks that nothing was left behind).
export const storedIds = (key) => new Promise((ok, fail) => {
  const open = indexedDB.open(`syncline:${key}`);
  open.onerror = () => fail(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const keys = db.transaction("outbox").objectStore("outbox").getAllKeys();
    keys.onsuccess = () => {
      db.close();
      ok(keys.result);
    };
    keys.onerror = () => fail(keys.error);
  };
});
