import { STUB_IMAGE_BASE64 } from "./image.generated.js";
import { STUB_SIZE } from "./layout.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 to bytes with no platform API (the package targets any JavaScript runtime). */
export function decodeBase64(text: string): Uint8Array {
  const clean = text.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const digit = ALPHABET.indexOf(clean[i]);
    if (digit < 0) throw new Error(`invalid base64 character at ${i}`);
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >>> bits) & 0xff;
    }
  }
  return out;
}

const image = decodeBase64(STUB_IMAGE_BASE64);
if (image.length !== STUB_SIZE)
  throw new Error(`vmm-stub: image is ${image.length} bytes, expected ${STUB_SIZE}`);

/**
 * A fresh copy of the assembled stub as committed (stub/stub.bin), relocated to base 0: apply
 * {@link relocate}'s writes for the real base (or use {@link createStubImage}).
 */
export function stubImage(): Uint8Array {
  return image.slice();
}
