// What a crew sends from the cab (hazard reports, causes of missed streets) goes through an
// outbox kept on the phone (localStorage, per signed-in user and kind) before it is sent.
// Every item gets a key when it is made (client_key); sent without signal it stays queued and
// is sent when the phone is online again, and the API stores one item per key, so an item
// sent twice (an answer lost on the way back) is still stored once.

import { ApiError } from "./api.js";

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class Outbox {
  /**
   * `storageKey`: where the queue lives on the phone; `send(item)`: posts one item (a promise);
   * `describe(item)`: the words that name an item in a refusal.
   */
  constructor(storageKey, send, describe) {
    this.key = storageKey;
    this.send = send;
    this.describe = describe;
    this.flushing = null;
  }

  items() {
    try {
      return JSON.parse(localStorage.getItem(this.key) || "[]");
    } catch {
      return [];
    }
  }

  #save(items) {
    localStorage.setItem(this.key, JSON.stringify(items));
  }

  add(item) {
    this.#save([...this.items(), item]);
  }

  has(clientKey) {
    return this.items().some((i) => i.client_key === clientKey);
  }

  #drop(clientKey) {
    this.#save(this.items().filter((i) => i.client_key !== clientKey));
  }

  /** Send every queued item in order; stops at the first one that cannot reach the API. */
  flush() {
    // One send at a time; an item queued during a send goes in the next round.
    if (this.flushing) return this.flushing.then(() => this.flush());
    const run = async () => {
      await null; // run after `flushing` is set, so an empty queue cannot clear it first
      const refused = [];
      try {
        for (const item of this.items()) {
          if (!navigator.onLine) break;
          try {
            await this.send(item);
          } catch (error) {
            // A refusal (4xx) will not change by sending again: drop it and say so. A network
            // error or a server error leaves it queued for the next try.
            if (!(error instanceof ApiError) || error.status >= 500 || error.status === 429) break;
            refused.push(`${this.describe(item)}: ${error.detail}`);
          }
          this.#drop(item.client_key);
        }
      } finally {
        this.flushing = null;
      }
      return refused;
    };
    this.flushing = run();
    return this.flushing;
  }
}
