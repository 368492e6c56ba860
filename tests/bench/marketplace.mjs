// Marketplace benchmarks inside local workerd: public search latency over 1,000 published
// listings (full text, tag filter, sort by rating and by sales) and the licence check of
// "use template". Prints `bench <name>: <value> <unit>` lines.
//
// Catalog rows and licences are written straight into D1 (as tests/support/marketplace-support.mjs
// does until Commerce's checkout is merged).
import { startApp, Client, signup } from "../harness.mjs";
import { mintId, seedProduct, seedPurchase } from "../support/marketplace-support.mjs";

const LISTINGS = 1000;
const WORDS = ["neon", "aurora", "glitch", "retro", "cinema", "minimal", "bold", "soft", "grain", "chrome"];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const app = await startApp();
try {
  const seller = await signup(app, "bench-seller");
  const now = Date.now();
  // Bulk rows in chunks of multi-row INSERTs: products, prices and published listings.
  for (let start = 0; start < LISTINGS; start += 50) {
    const products = [];
    const prices = [];
    const listings = [];
    for (let i = start; i < Math.min(start + 50, LISTINGS); i++) {
      const productId = mintId("prd");
      const a = WORDS[i % WORDS.length];
      const b = WORDS[(i * 7 + 3) % WORDS.length];
      const title = `${a} ${b} pack ${i}`;
      products.push(`('${productId}', '${seller.org.id}', 'template', '${title}', 'active', ${now}, ${now})`);
      prices.push(`('${mintId("pri")}', '${seller.org.id}', '${productId}', 'one_time', 'EUR', ${100 + (i % 50) * 100}, ${now})`);
      const count = i % 7;
      listings.push(`('${mintId("lst")}', '${seller.org.id}', '${productId}', '${title}', 'A ${a} look', 'cat${i % 12}', '["${a}","${b}"]', '${a} ${b}', 'published', ${count}, ${count * (1 + (i % 5))}, ${now + i}, ${now}, ${now})`);
    }
    await app.query(`INSERT INTO products (id, org_id, kind, title, status, created_at, updated_at) VALUES ${products.join(",")}`);
    await app.query(`INSERT INTO prices (id, org_id, product_id, type, currency, unit_amount, created_at) VALUES ${prices.join(",")}`);
    await app.query(`INSERT INTO listings (id, org_id, product_id, title, summary, category, tags, tags_text, status, rating_count, rating_sum, published_at, created_at, updated_at) VALUES ${listings.join(",")}`);
    process.stderr.write(`seeded ${Math.min(start + 50, LISTINGS)}/${LISTINGS} listings\n`);
  }
  const guest = new Client(app);
  const cases = {
    search_fulltext: "/v1/market/listings?q=auro",
    search_tag_price: "/v1/market/listings?tags=neon&min_price=500&max_price=3000",
    search_sort_rating: "/v1/market/listings?sort=rating",
    search_sort_sales: "/v1/market/listings?sort=sales",
  };
  for (const [name, path] of Object.entries(cases)) {
    const samples = [];
    for (let i = 0; i < 30; i++) {
      samples.push(await timed(async () => {
        const res = await guest.get(path);
        if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
      }));
    }
    console.log(`bench market_${name}_p50_ms_${LISTINGS}_listings: ${median(samples).toFixed(1)} ms`);
  }

  // Licence check + project creation of "use template".
  const tpl = await seller.client.post(`/v1/orgs/${seller.org.id}/projects`, { name: "Template", width: 320, height: 180, fps: 30 });
  const { productId, priceId } = await seedProduct(app, { orgId: seller.org.id, userId: seller.user.id, subjectType: "project", subjectId: tpl.body.project.id });
  const created = await seller.client.post(`/v1/orgs/${seller.org.id}/listings`, { product_id: productId, title: "Bench template", category: "bench" });
  const buyer = await signup(app, "bench-buyer");
  await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: buyer.user.id, buyerOrgId: buyer.org.id });
  const refused = [];
  const stranger = await signup(app, "bench-stranger");
  for (let i = 0; i < 20; i++) {
    refused.push(await timed(async () => {
      const res = await stranger.client.post(`/v1/market/listings/${created.body.listing.id}/use`, { org_id: stranger.org.id });
      if (res.status !== 404) throw new Error(`expected 404, got ${res.status} ${res.text}`);
    }));
  }
  const uses = [];
  for (let i = 0; i < 20; i++) {
    uses.push(await timed(async () => {
      const res = await buyer.client.post(`/v1/market/listings/${created.body.listing.id}/use`, { org_id: buyer.org.id });
      if (res.status !== 201) throw new Error(`use failed: ${res.status} ${res.text}`);
    }));
  }
  console.log(`bench market_use_template_p50_ms: ${median(uses).toFixed(1)} ms`);
  console.log(`bench market_use_refused_p50_ms: ${median(refused).toFixed(1)} ms`);
} finally {
  await app.dispose();
}
