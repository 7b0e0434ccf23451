// Verifies sessiongate identity assertions with jose (an implementation independent of the
// gateway's ring signer) against the JWKS fetched from the gateway.
//
// usage: node verify.mjs <jwks url> <issuer>   stdin: [{"token": "...", "audience": "..."}]
// stdout: [{"ok": true, "payload": {...}, "kid": "..."} | {"ok": false, "error": "<code>"}]
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
const results = [];
for (const { token, audience } of JSON.parse(readFileSync(0, 'utf8'))) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      algorithms: ['ES256'],
      requiredClaims: ['sub', 'sid', 'provider', 'iat', 'exp', 'jti'],
      maxTokenAge: '60s',
    });
    results.push({ ok: true, payload, kid: protectedHeader.kid });
  } catch (err) {
    results.push({ ok: false, error: err.code ?? String(err) });
  }
}
console.log(JSON.stringify(results));
