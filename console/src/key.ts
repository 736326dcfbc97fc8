// The API key, kept in the browser's local storage (only ever sent to this server).
const STORAGE = 'reelay.apiKey';

export function storedKey(): string | null {
  try {
    return localStorage.getItem(STORAGE) || null;
  } catch {
    return null; // storage disabled: ask every visit
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key) localStorage.setItem(STORAGE, key);
    else localStorage.removeItem(STORAGE);
  } catch {
    /* storage disabled */
  }
}
