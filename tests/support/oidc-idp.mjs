// A real OpenID provider for the OIDC specs: the `oidc-provider` package (panva/node-oidc-provider)
// on 127.0.0.1, plus a browser stand-in (fetch + a cookie jar) to drive logins without Chromium.
//
// The provider's URL must be known before the app starts (it goes into OIDC_PROVIDERS), and the
// app's URL before the provider registers its clients (redirect_uris): so `listenIdp()` opens the
// port first and `idp.configure()` builds the provider once the app's URL is known.
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import Provider from "oidc-provider";

export const b64url = (buffer) => Buffer.from(buffer).toString("base64url");
export const sha256b64url = (text) => b64url(createHash("sha256").update(text).digest());

/** Signing keys as private JWKs: one RSA (RS256) and one EC P-256 (ES256). */
export function signingKeys() {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  return {
    rsa: { ...rsa, kid: "rsa-1", use: "sig", alg: "RS256" },
    ec: { ...ec, kid: "ec-1", use: "sig", alg: "ES256" },
  };
}

/** People the providers know: accountId → {email, email_verified, name}. Shared by all providers. */
export const accounts = new Map();

/**
 * Opens a port for a provider; call `configure()` once the app's URL is known.
 * Token responses pass through `await idp.onToken(body)` when set (to inject a different ID token:
 * the attacks the app must refuse), and every issued ID token is kept in `idp.issued`.
 */
export async function listenIdp() {
  let handler = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const hits = new Map();
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    handler(req, res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const idp = {
    issuer,
    provider: undefined,
    onToken: undefined,
    issued: [],
    /** Requests served, by path. */
    hits,
    /**
     * @param {{clients: object[], jwks: object, clientAuthMethods?: string[], idTokenClaims?: boolean}} options
     */
    configure({ clients, jwks, clientAuthMethods = ["client_secret_basic", "client_secret_post"], idTokenClaims = false }) {
      const provider = new Provider(issuer, {
        clients,
        jwks,
        clientAuthMethods,
        // true: the ID token carries only sub & co. and email comes from userinfo (the default,
        // and what many providers do for the code flow); false: email is in the ID token.
        conformIdTokenClaims: !idTokenClaims,
        pkce: { required: () => true },
        cookies: { keys: [b64url(randomBytes(32))] },
        claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
        features: { devInteractions: { enabled: false } },
        interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
        async findAccount(_ctx, id) {
          const person = accounts.get(id);
          if (!person) return undefined;
          return {
            accountId: id,
            async claims() {
              return { sub: id, ...person };
            },
          };
        },
      });
      provider.use(async (ctx, next) => {
        await next();
        if (ctx.oidc?.route === "token" && ctx.status === 200 && ctx.body?.id_token) {
          idp.issued.push(ctx.body.id_token);
          if (idp.onToken) ctx.body = await idp.onToken({ ...ctx.body });
        }
      });
      const callback = provider.callback();
      handler = (req, res) => {
        const match = /^\/interaction\/([^/?]+)/.exec(req.url);
        if (match) {
          interact(provider, req, res).catch((error) => {
            res.statusCode = 500;
            res.end(String(error));
          });
          return;
        }
        callback(req, res);
      };
      idp.provider = provider;
      return idp;
    },
    async metadata() {
      const res = await fetch(`${issuer}/.well-known/openid-configuration`);
      return res.json();
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
  return idp;
}

/**
 * The login and consent screens, automated: the browser names who it is with `x-test-account`
 * (or refuses with `x-test-deny: 1`), and consent to what the client asks is given.
 */
async function interact(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  if (req.headers["x-test-deny"] === "1") {
    await provider.interactionFinished(
      req,
      res,
      { error: "access_denied", error_description: "the person declined" },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (prompt.name === "login") {
    const accountId = req.headers["x-test-account"];
    if (!accountId || !accounts.has(accountId)) throw new Error(`unknown test account ${accountId}`);
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === "consent") {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    const id = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId: id } }, { mergeWithLastSubmission: true });
    return;
  }
  throw new Error(`unexpected prompt ${prompt.name}`);
}

/**
 * A browser stand-in: follows redirects by hand and keeps cookies like a browser does for one
 * host (cookies ignore the port, so the app's and the provider's share a jar, as they would).
 */
export class Browser {
  constructor({ account, deny = false } = {}) {
    this.account = account;
    this.deny = deny;
    this.cookies = [];
  }

  cookieHeader(url) {
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expires === undefined || c.expires > now);
    return this.cookies
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  store(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";").map((part) => part.trim());
      const eq = pair.indexOf("=");
      const cookie = { name: pair.slice(0, eq), value: pair.slice(eq + 1), path: "/", expires: undefined };
      const directory = url.pathname.slice(0, url.pathname.lastIndexOf("/"));
      cookie.path = directory || "/";
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split("=");
        const value = rest.join("=");
        switch (key.toLowerCase()) {
          case "path": cookie.path = value || "/"; break;
          case "max-age": cookie.expires = Date.now() + Number(value) * 1000; break;
          case "expires": if (cookie.expires === undefined) cookie.expires = Date.parse(value); break;
          default: break;
        }
      }
      this.cookies = this.cookies.filter((c) => !(c.name === cookie.name && c.path === cookie.path));
      if (cookie.expires === undefined || cookie.expires > Date.now()) this.cookies.push(cookie);
    }
  }

  /** The value of a cookie the jar holds, if any. */
  cookie(name) {
    return this.cookies.find((c) => c.name === name)?.value;
  }

  /** One request, no redirect following; cookies sent and stored. */
  async fetch(href, init = {}) {
    const url = new URL(href);
    const headers = { ...(init.headers ?? {}) };
    const cookie = this.cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    if (this.account) headers["x-test-account"] = this.account;
    if (this.deny) headers["x-test-deny"] = "1";
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    this.store(url, response);
    return response;
  }

  /**
   * Follows redirects from `href` until `stop(url)` says the next URL is where to stop (it is
   * returned without being fetched) or a response is not a redirect.
   */
  async follow(href, stop, maxHops = 20) {
    let url = new URL(href);
    for (let hop = 0; hop < maxHops; hop += 1) {
      const response = await this.fetch(url.href);
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || !location) {
        const text = await response.text();
        return { url, response, text };
      }
      await response.arrayBuffer();
      const next = new URL(location, url);
      if (stop(next)) return { url: next, stopped: true };
      url = next;
    }
    throw new Error(`too many redirects from ${href}`);
  }
}

/**
 * Gets an ID token from `idp` for some client by running the code flow as that client would
 * (the test plays the relying party): used to hand the app tokens minted for someone else.
 */
export async function idTokenAsClient(idp, { clientId, clientSecret, redirectUri, nonce, account, auth = "basic" }) {
  const metadata = await idp.metadata();
  const verifier = b64url(randomBytes(32));
  const authorize = new URL(metadata.authorization_endpoint);
  for (const [key, value] of Object.entries({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: "openid email",
    state: b64url(randomBytes(16)),
    nonce,
    code_challenge: sha256b64url(verifier),
    code_challenge_method: "S256",
  })) authorize.searchParams.set(key, value);
  const browser = new Browser({ account });
  const end = await browser.follow(authorize.href, (url) => url.href.startsWith(redirectUri));
  if (!end.stopped) throw new Error(`no code: ${end.response.status} ${end.text}`);
  const code = end.url.searchParams.get("code");
  const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier });
  const headers = { "content-type": "application/x-www-form-urlencoded" };
  if (auth === "basic") {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")}`;
  } else {
    form.set("client_id", clientId);
    form.set("client_secret", clientSecret);
  }
  const res = await fetch(metadata.token_endpoint, { method: "POST", headers, body: form });
  const body = await res.json();
  if (!body.id_token) throw new Error(`no id_token: ${res.status} ${JSON.stringify(body)}`);
  return body.id_token;
}
