// Verify a licensor license key in Node.js, written from docs/FORMAT.md.
//
// The signature is checked by npm's `paseto` (panva); BLAKE2b (for the PASERK key
// id and the installation's id and factor hashes) comes from `@noble/hashes`,
// since Node's crypto has no BLAKE2b of a chosen length.  Nothing here is
// home-made crypto: this file only reads text, JSON and dates, and applies the
// licensor policy, in the same order as the Python core so that both give the
// same verdict code for the same input.
//
//   import { Keyring, check } from './verify.js'
//   const keyring = await Keyring.fromText(fs.readFileSync('vendor.pub', 'utf8'))
//   const v = await check(pastedText, keyring, { id, product, factors }, new Date())
//   v.code, v.hint   // 'valid', 'licensed to ACME for 5 nodes'

import { PublicProtocol, InvalidTokenError, PasetoError } from 'paseto'
import { ImportPublicKeyFactory, VerifyFactory } from 'paseto/v4/public'
import { blake2b } from '@noble/hashes/blake2.js'

const v4 = new PublicProtocol(ImportPublicKeyFactory, VerifyFactory)
const utf8 = new TextEncoder()

// ---------------------------------------------------------------- errors

export class Refusal extends Error {
  constructor(code, hint, details = {}) {
    super(hint)
    this.code = code
    this.hint = hint
    this.details = details
  }
}

const malformed = (hint) => new Refusal('malformed', hint)

// ---------------------------------------------------------------- encodings

const B64URL = /^[A-Za-z0-9_-]*$/
const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

// FORMAT.md: base64url is unpadded and canonical; a last character whose unused
// bits are not zero is refused, so that one text decodes to one byte string.
export function b64decode(text) {
  const rem = text.length % 4
  if (rem === 1 || !B64URL.test(text)) throw malformed('the text is not valid base64url')
  if (rem && B64_ALPHABET.indexOf(text[text.length - 1]) & (rem === 2 ? 0x0f : 0x03)) {
    throw malformed('the text is not canonical base64url (a character was changed)')
  }
  return new Uint8Array(Buffer.from(text, 'base64url'))
}

export const b64encode = (bytes) => Buffer.from(bytes).toString('base64url')

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

export function b32encode(bytes) {
  let out = ''
  let bits = 0
  let value = 0
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += CROCKFORD[(value << (5 - bits)) & 31]
  return out
}

// BLAKE2b's salt and personalisation are 16 bytes; shorter ones are zero-padded (as in libsodium and Python's hashlib).
const pad16 = (bytes) => {
  const out = new Uint8Array(16)
  out.set(bytes.subarray(0, 16))
  return out
}

// ---------------------------------------------------------------- identity

/** `XXXX-XXXX-XXXX-XXXX`: Crockford base32 of BLAKE2b-80 (person `licensor-inst`) of the installation public key. */
export function installationId(publicKey) {
  const digest = blake2b(publicKey, { dkLen: 10, personalization: pad16(utf8.encode('licensor-inst')) })
  return b32encode(digest).match(/.{1,4}/g).join('-')
}

/** One fingerprint factor's hash: BLAKE2b-80(name 0x00 value, person `licensor-fp`, salt = public key[:16]). */
export function hashFactor(publicKey, name, value) {
  const digest = blake2b(utf8.encode(`${name}\u0000${value}`), {
    dkLen: 10,
    personalization: pad16(utf8.encode('licensor-fp')),
    salt: pad16(publicKey),
  })
  return b32encode(digest)
}

/** Hash each non-empty raw factor value. */
export function hashFactors(publicKey, raw) {
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => v).map(([n, v]) => [n, hashFactor(publicKey, n, v)]))
}

// ---------------------------------------------------------------- key ring

/** PASERK `k4.pid` of a `k4.public.…` key: BLAKE2b-264 of `"k4.pid." + paserk`. */
export function keyId(paserk) {
  return 'k4.pid.' + b64encode(blake2b(utf8.encode('k4.pid.' + paserk), { dkLen: 33 }))
}

export class Keyring {
  constructor() {
    this.keys = new Map() // kid -> paseto PublicKey
  }

  async add(paserk) {
    paserk = paserk.trim()
    if (!paserk.startsWith('k4.public.')) throw malformed("a vendor public key starts with 'k4.public.'; this does not")
    if (b64decode(paserk.slice('k4.public.'.length)).length !== 32) throw malformed('a vendor public key is 32 bytes; this one is not')
    const kid = keyId(paserk)
    this.keys.set(kid, await v4.ImportPublicKey(paserk))
    return kid
  }

  /** The public key set: one `k4.public.…` per line; blank lines and `#` comments ignored. */
  static async fromText(text) {
    const ring = new Keyring()
    for (let line of text.split(/\r\n|[\n\r]/)) {
      line = line.trim()
      if (line && !line.startsWith('#')) await ring.add(line)
    }
    if (!ring.keys.size) throw malformed("the public key file holds no 'k4.public.' key")
    return ring
  }
}

// ---------------------------------------------------------------- paste tolerance

export const MAX_INPUT = 64 * 1024
const ZERO_WIDTH = /[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]/g
const QUOTE_CHARS = '"\'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a'
const QUOTES = new RegExp(`[${QUOTE_CHARS}]`, 'g')
const QUOTE_PREFIX = new RegExp(`^(?:[ \\t${QUOTE_CHARS}]*>)+[ \\t]?`)
// Unicode whitespace as FORMAT.md means it (Python's str.isspace): JavaScript's \s lacks U+001C–U+001F and U+0085.
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
const ANY_SPACE = new RegExp(`[${SPACE}]+`, 'g')
const EDGE_SPACE = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'g')
// Line breaks as FORMAT.md means them (Python's str.splitlines).
const LINE_BREAK = /\r\n|[\n\v\f\r\x1c-\x1e\x85\u2028\u2029]/
const strip = (s) => s.replace(EDGE_SPACE, '')
const EDGE_QUOTES = new RegExp(`^[${QUOTE_CHARS}]+|[${QUOTE_CHARS}]+$`, 'g')
// A block pasted between quotation marks has them on its BEGIN and END lines.
const mark = (ln) => strip(strip(ln).replace(EDGE_QUOTES, ''))

/** Undo paste damage and the armour: `{ kind, payload, headers }` (headers inform; only the payload decides). */
export function unarmour(text) {
  if ([...text].length > MAX_INPUT) throw malformed(`the input is ${text.length} characters; a key or code is far smaller`)
  let lines = text.replace(ZERO_WIDTH, '').split(LINE_BREAK)
  if (lines.at(-1) === '') lines.pop() // a final line break ends the last line; it does not start an empty one
  lines = lines.map((ln) => ln.replace(QUOTE_PREFIX, ''))
  let kind = null
  const headers = {}
  const marks = lines.map(mark)
  const begin = marks.findIndex((ln) => ln.startsWith('-----BEGIN '))
  if (begin >= 0) {
    kind = strip(marks[begin].slice('-----BEGIN '.length).replace(/-+$/, ''))
    const end = marks.findIndex((ln, i) => i > begin && ln.startsWith('-----END '))
    if (end < 0) throw malformed(`the ${kind.toLowerCase()} block has a BEGIN line but no END line: it was cut off, copy all of it`)
    let body = lines.slice(begin + 1, end)
    const stripped = body.map(strip)
    if (body.some((ln) => ln.includes(':')) && stripped.includes('')) {
      const blank = stripped.indexOf('')
      for (const ln of body.slice(0, blank)) {
        const at = ln.indexOf(':')
        headers[strip(at < 0 ? ln : ln.slice(0, at))] = at < 0 ? '' : strip(ln.slice(at + 1))
      }
      body = body.slice(blank + 1)
    }
    lines = body
  }
  return { kind, payload: lines.join('').replace(ANY_SPACE, '').replace(QUOTES, ''), headers }
}

function readLicenseText(text) {
  const a = unarmour(text)
  if (a.kind !== null && a.kind !== 'LICENSOR LICENSE') {
    throw malformed(`this is a '${a.kind}' block, not a license: paste the license key or file the vendor sent`)
  }
  if (!a.payload) throw malformed('no license key was given: paste the key or upload the license file')
  return a.payload
}

// ---------------------------------------------------------------- token

const SIG = 64

/** The vendor key id in the (not yet authenticated) footer; it only selects a key. */
function footerKid(token) {
  const parts = token.split('.')
  if (parts.length < 3 || parts.length > 4 || parts[0] !== 'v4' || parts[1] !== 'public' || !parts[2]) {
    if (/^(v1\.|v2\.|v3\.|v4\.local\.)/.test(token)) {
      throw malformed(`this is a '${parts.slice(0, 2).join('.')}' token; licensor keys are always v4.public`)
    }
    throw malformed("this is not a license key: a key starts with 'v4.public.'")
  }
  if (b64decode(parts[2]).length <= SIG) throw malformed('this license key is too short: it was cut off, copy all of it')
  const footer = parts.length === 4 ? b64decode(parts[3]) : new Uint8Array()
  let kid
  try {
    kid = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(footer)).kid
  } catch {
    kid = undefined
  }
  if (typeof kid !== 'string' || !kid.startsWith('k4.pid.')) {
    throw malformed("the license key's footer names no k4.pid vendor key id: it is not a licensor key")
  }
  return kid
}

// The policy's time rules (not yet valid, expiry, grace, clock rollback) are
// licensor's own and come after the binding checks, so the library must not
// reject on time: a tolerance of ~3,000 years switches its temporal checks off
// while it still checks the signature and the dates' RFC 3339 syntax.
const NO_TIME_CHECK = { allowNonExpiring: true, clockTolerance: 1e11 }

async function verifyToken(token, keyring) {
  const kid = footerKid(token)
  const key = keyring.keys.get(kid)
  if (key === undefined) {
    throw new Refusal(
      'unknown_key',
      `this key was signed by vendor key ${kid}, which this installation does not trust: import the vendor's current public key set`,
      { kid },
    )
  }
  try {
    return { claims: (await v4.Verify(key, token, NO_TIME_CHECK)).claims, kid }
  } catch (e) {
    if (e instanceof InvalidTokenError && /signature/i.test(e.message)) {
      throw new Refusal('bad_signature', 'the signature does not match: this key was changed after the vendor signed it')
    }
    if (e instanceof PasetoError) throw malformed(`the signed content is not a licensor license (${e.message})`)
    throw e
  }
}

// ---------------------------------------------------------------- claims

const isStr = (v) => typeof v === 'string'
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
const isInt = (v) => Number.isSafeInteger(v)

function count(c, name, dflt) {
  const v = Object.hasOwn(c, name) ? c[name] : dflt
  if (!isInt(v) || v < 0) throw malformed(`the license's '${name}' is not a non-negative whole number`)
  return v
}

function text(c, name) {
  if (!isStr(c[name]) || !c[name]) throw malformed(`the license has no '${name}'`)
  return c[name]
}

// RFC 3339 with a zone; `Z` or an offset (the library has checked the syntax of iat, nbf and exp).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/
function time(c, name, what) {
  const v = c[name]
  if (!isStr(v) || !RFC3339.test(v) || Number.isNaN(Date.parse(v))) throw malformed(`the ${what} in this license is not a valid date`)
  return new Date(v)
}

/** The license in the verified claims, or malformed: FORMAT.md's claims table. */
export function licenseFromClaims(c, kid = '') {
  if (!isObj(c) || c.lv !== 1) throw malformed('the signed content is not a licensor license (unknown claims version)')
  const b = c.binding
  if (!isObj(b)) throw malformed('the license has no installation binding')
  const factors = Object.hasOwn(b, 'factors') ? b.factors : {}
  const require = Object.hasOwn(b, 'require') ? b.require : []
  const k = Object.hasOwn(b, 'k') ? b.k : 0
  if (!isObj(factors) || !Array.isArray(require) || !isInt(k) || !Object.values(factors).every(isStr) || !require.every(isStr)) {
    throw malformed("the license's installation binding is not well formed")
  }
  const features = Object.hasOwn(c, 'features') ? c.features : []
  if (!Array.isArray(features) || !features.every(isStr)) throw malformed("the license's features are not a list of names")
  if (c.type !== 'perpetual' && c.type !== 'subscription') throw malformed("the license's type is neither 'perpetual' nor 'subscription'")
  return {
    licenseId: text(c, 'jti'),
    product: text(c, 'aud'),
    customer: text(c, 'customer'),
    installationId: text(c, 'sub'),
    binding: { factors, require, k },
    issuedAt: time(c, 'iat', 'issue date'),
    notBefore: time(c, 'nbf', 'start date'),
    expires: c.exp === undefined ? null : time(c, 'exp', 'expiry date'),
    maintenanceUntil: time(c, 'maintenance_until', 'maintenance end'),
    nodes: count(c, 'nodes'),
    remoteClusters: count(c, 'remote_clusters', 0),
    features,
    type: c.type,
    serial: count(c, 'serial'),
    graceDays: count(c, 'grace_days', 0),
    kid,
  }
}

/** Read, verify and decode a pasted key or license file; throws a Refusal saying why not. */
export async function decodeLicense(input, keyring) {
  let token = input
  let verified
  try {
    verified = await verifyToken(token, keyring) // most keys arrive clean: try them as they are first
  } catch (e) {
    if (!(e instanceof Refusal) || e.code !== 'malformed') throw e
    token = readLicenseText(input)
    verified = await verifyToken(token, keyring)
  }
  return licenseFromClaims(verified.claims, verified.kid)
}

// ---------------------------------------------------------------- policy

export const CLOCK_TOLERANCE_MS = 24 * 3600 * 1000
const DAY_MS = 24 * 3600 * 1000
const day = (t) => t.toISOString().slice(0, 16).replace('T', ' ') + ' UTC'

/** Names of bound factors that differ here (absent counts as differing). */
export function mismatches(binding, current) {
  return Object.entries(binding.factors)
    .filter(([n, h]) => current[n] !== h)
    .map(([n]) => n)
}

/** Every factor named in `require` that the license binds must match, and at least `k` of its factors. */
export function bindingSatisfied(binding, current) {
  const differ = mismatches(binding, current)
  if (binding.require.some((n) => differ.includes(n))) return false
  return Object.keys(binding.factors).length - differ.length >= binding.k
}

const verdict = (code, hint, license = null, details = {}) => ({ code, hint, license, details })

/**
 * The verdict for a decoded license (or none) on this installation at `now`.
 * `inst`: { id, product, factors: {name: hash}, highestSerial = 0, trustedTime = null (a Date) }.
 */
export function evaluate(lic, inst, now) {
  if (lic === null) return verdict('missing', `no license is active on installation ${inst.id}: request a code and send it to your vendor`)
  if (lic.product !== inst.product) {
    return verdict('wrong_product', `this key is for product '${lic.product}', but this is '${inst.product}'`, lic)
  }
  if (lic.installationId !== inst.id) {
    return verdict('wrong_installation', `this key was issued for installation ${lic.installationId}; this is installation ${inst.id}`, lic, {
      issued_for: lic.installationId,
      this_installation: inst.id,
    })
  }
  const factors = inst.factors ?? {}
  if (!bindingSatisfied(lic.binding, factors)) {
    const differ = mismatches(lic.binding, factors)
    return verdict('wrong_installation', `this key is bound to installation ${inst.id} on other hardware: the ${differ.join(', ')} factor(s) differ`, lic, {
      factors_changed: differ,
    })
  }
  if (lic.serial < (inst.highestSerial ?? 0)) {
    return verdict('superseded', `this key (serial ${lic.serial}) was replaced by a newer one (serial ${inst.highestSerial})`, lic)
  }
  if (inst.trustedTime && now.getTime() < inst.trustedTime.getTime() - CLOCK_TOLERANCE_MS) {
    return verdict('clock_rollback', `the system clock (${day(now)}) is behind the last trusted time (${day(inst.trustedTime)})`, lic)
  }
  if (now < lic.notBefore) return verdict('not_yet_valid', `this key starts on ${day(lic.notBefore)}; it is ${day(now)}`, lic)
  if (lic.expires !== null && now >= lic.expires) {
    const graceEnd = new Date(lic.expires.getTime() + lic.graceDays * DAY_MS)
    if (now < graceEnd) return verdict('grace', `this license expired on ${day(lic.expires)}; connected nodes keep their seats until ${day(graceEnd)}`, lic)
    return verdict('expired', `this license expired on ${day(lic.expires)}: ask your vendor to renew it`, lic)
  }
  return verdict('valid', `licensed to ${lic.customer} for ${lic.nodes} nodes`, lic)
}

/** Decode, verify and evaluate a pasted key in one call; never throws for bad input. */
export async function check(input, keyring, inst, now) {
  if (input === null || input === undefined || !strip(String(input))) return evaluate(null, inst, now)
  let lic
  try {
    lic = await decodeLicense(String(input), keyring)
  } catch (e) {
    if (e instanceof Refusal) return verdict(e.code, e.hint, null, e.details)
    throw e
  }
  return evaluate(lic, inst, now)
}

/** A feature is on only under a license in force (valid or in grace) that names it. */
export const featureEnabled = (v, feature) => (v.code === 'valid' || v.code === 'grace') && v.license !== null && v.license.features.includes(feature)
