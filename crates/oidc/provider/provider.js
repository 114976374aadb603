// A real OIDC provider for Fulgur's tests: oauth2-mock-server (discovery, JWKS, /token)
// on an ephemeral port, plus a control port the tests use to rotate signing keys and to
// mint tokens signed by a chosen key. Prints one JSON line with both URLs when ready.
'use strict';
const http = require('node:http');
const { OAuth2Server } = require('oauth2-mock-server');

async function main() {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  // Extra claims for a /token request come as a JSON form field `claims`.
  server.service.on('beforeTokenSigning', (token, req) => {
    if (req.body && typeof req.body.claims === 'string') {
      Object.assign(token.payload, JSON.parse(req.body.claims));
    }
  });
  await server.start(0, '127.0.0.1');

  const control = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', async () => {
      try {
        const input = body ? JSON.parse(body) : {};
        let output;
        if (req.url === '/rotate') {
          const key = await server.issuer.keys.generate(input.alg || 'RS256');
          output = { kid: key.kid };
        } else if (req.url === '/mint') {
          const token = await server.issuer.buildToken({
            kid: input.kid,
            expiresIn: input.expires_in || 3600,
            scopesOrTransform: (_header, payload) => Object.assign(payload, input.claims || {}),
          });
          output = { token };
        } else {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(output));
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
  });
  control.listen(0, '127.0.0.1', () => {
    const issuer = server.issuer.url;
    console.log(JSON.stringify({ issuer, control: `http://127.0.0.1:${control.address().port}` }));
  });
  // The test owns this process: stdin closing means the test is gone.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

main().catch((e) => { console.error(e); process.exit(1); });
