#!/usr/bin/env node
// Check licensor keys from the command line.
//
//   node cli.js --keys vendor.pub --installation installation.json [--now 2027-01-01T00:00:00Z] license.txt
//       prints the verdict as JSON; exit 0 when valid (or in grace), 1 for a refusal, 2 for bad usage.
//   node cli.js --batch < cases.json
//       cases: [{ text, keys: ["k4.public.…"], installation: {...}, now }] -> [{ code, hint }] on stdout
//
// installation.json: { "id": "XXXX-…", "product": "…", "factors": { name: hash }, "highestSerial": 0, "trustedTime": null }

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Keyring, check } from './verify.js'

const installation = (o) => ({ ...o, trustedTime: o.trustedTime ? new Date(o.trustedTime) : null })

async function batch() {
  const cases = JSON.parse(readFileSync(0, 'utf8'))
  const rings = new Map()
  const out = []
  for (const c of cases) {
    const id = c.keys.join('\n')
    if (!rings.has(id)) {
      const ring = new Keyring()
      for (const k of c.keys) await ring.add(k)
      rings.set(id, ring)
    }
    const v = await check(c.text, rings.get(id), installation(c.installation), new Date(c.now))
    out.push({ code: v.code, hint: v.hint })
  }
  process.stdout.write(JSON.stringify(out) + '\n')
  return 0
}

async function one(values, file) {
  if (!values.keys || !values.installation || !file) {
    process.stderr.write('usage: cli.js --keys vendor.pub --installation installation.json [--now TIME] license.txt\n')
    return 2
  }
  const ring = await Keyring.fromText(readFileSync(values.keys, 'utf8'))
  const inst = installation(JSON.parse(readFileSync(values.installation, 'utf8')))
  const v = await check(readFileSync(file, 'utf8'), ring, inst, values.now ? new Date(values.now) : new Date())
  process.stdout.write(JSON.stringify({ code: v.code, hint: v.hint, license: v.license }, null, 2) + '\n')
  return v.code === 'valid' || v.code === 'grace' ? 0 : 1
}

const { values, positionals } = parseArgs({
  options: { batch: { type: 'boolean' }, keys: { type: 'string' }, installation: { type: 'string' }, now: { type: 'string' } },
  allowPositionals: true,
})
process.exitCode = values.batch ? await batch() : await one(values, positionals[0])
