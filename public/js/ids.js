// Ids for new timeline objects: `<prefix>_<ULID>` (48-bit time, 80 random bits, Crockford
// base32), minted here because editor-core commands carry every id they create.
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
let lastTime = 0;
let lastRandom = null;

/** A new id such as `clp_01J…`; monotonic within one millisecond. */
export function newId(prefix) {
  let time = Date.now();
  let random;
  if (time <= lastTime && lastRandom) {
    time = lastTime;
    random = lastRandom.slice();
    for (let i = random.length - 1; i >= 0; i--) {
      random[i] = (random[i] + 1) % 32;
      if (random[i] !== 0) break;
    }
  } else {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    random = Array.from(bytes, (b) => b % 32);
  }
  lastTime = time;
  lastRandom = random;
  let timePart = "";
  for (let i = 0; i < 10; i++) {
    timePart = CROCKFORD[time % 32] + timePart;
    time = Math.floor(time / 32);
  }
  return `${prefix}_${timePart}${random.map((d) => CROCKFORD[d]).join("")}`;
}
