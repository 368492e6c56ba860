// The public marketplace: search and listing pages over the public API (no sign-in needed).
// Text from the API is only ever set as textContent.

const results = document.getElementById("results");
const detail = document.getElementById("detail");
const more = document.getElementById("more");
const form = document.getElementById("search");

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function price(listing) {
  const p = listing.price;
  if (!p) return "";
  const amount = new Intl.NumberFormat(undefined, { style: "currency", currency: p.currency }).format(p.unit_amount / 100);
  return p.type === "recurring" ? `${amount} / ${p.interval}` : p.type === "usage" ? `${amount} per unit` : amount;
}

function stars(rating) {
  return rating.count ? `★ ${rating.average.toFixed(1)} (${rating.count})` : "No reviews yet";
}

async function api(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json();
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

let next = null;
let query = "";

async function search(append = false) {
  const params = new URLSearchParams(query);
  if (append && next) params.set("cursor", next);
  try {
    const page = await api(`/v1/market/listings?${params}`);
    if (!append) results.replaceChildren();
    for (const listing of page.items) {
      const card = el("a", { class: "card", href: `/market/?listing=${encodeURIComponent(listing.id)}` },
        listing.cover_asset_id ? el("img", { src: `/v1/market/listings/${encodeURIComponent(listing.id)}/cover`, alt: "", class: "cover", loading: "lazy" }) : null,
        el("h2", { text: listing.title }),
        el("div", { class: "meta", text: `${listing.kind.replace("_", " ")} · ${listing.category}` }),
        el("div", { class: "meta", text: `${price(listing)} · ${stars(listing.rating)} · ${listing.sales} sold` }),
        el("div", {}, ...listing.tags.map((tag) => el("span", { class: "tag", text: tag }))));
      results.append(card);
    }
    if (!append && page.items.length === 0) results.append(el("p", { class: "empty", text: "Nothing matches yet." }));
    next = page.next_cursor;
    more.hidden = !next;
  } catch (error) {
    results.replaceChildren(el("p", { class: "empty", text: error.message }));
  }
}

async function show(id) {
  results.hidden = true;
  more.hidden = true;
  detail.hidden = false;
  try {
    const { listing } = await api(`/v1/market/listings/${encodeURIComponent(id)}`);
    const reviews = await api(`/v1/market/listings/${encodeURIComponent(id)}/reviews`);
    document.title = `${listing.title} · Marketplace`;
    detail.replaceChildren(
      listing.cover_asset_id ? el("img", { src: `/v1/market/listings/${encodeURIComponent(listing.id)}/cover`, alt: "", class: "cover" }) : null,
      el("h1", { text: listing.title }),
      el("p", { class: "meta", text: `${listing.kind.replace("_", " ")} · ${listing.category} · ${price(listing)} · ${stars(listing.rating)} · ${listing.sales} sold` }),
      el("p", { text: listing.summary }),
      el("div", {}, ...listing.tags.map((tag) => el("span", { class: "tag", text: tag }))),
      el("h2", { text: "Reviews" }),
      ...(reviews.items.length ? reviews.items.map((review) => el("div", { class: "review" },
        el("strong", { text: `${"★".repeat(review.rating)}${"☆".repeat(5 - review.rating)} ${review.author_name}` }),
        el("p", { text: review.body }),
        review.seller_reply ? el("p", { class: "reply", text: `Seller: ${review.seller_reply}` }) : null)) : [el("p", { class: "empty", text: "No reviews yet." })]),
    );
  } catch (error) {
    detail.replaceChildren(el("p", { class: "empty", text: error.message }));
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const params = new URLSearchParams();
  for (const [key, value] of data) if (String(value).trim()) params.set(key, String(value).trim());
  query = params.toString();
  history.replaceState(null, "", `/market/?${query}`);
  results.hidden = false;
  detail.hidden = true;
  search();
});
more.addEventListener("click", () => search(true));

const initial = new URLSearchParams(location.search);
if (initial.get("listing")) {
  show(initial.get("listing"));
} else {
  for (const key of ["q", "category", "sort"]) if (initial.get(key)) form.elements[key].value = initial.get(key);
  initial.delete("cursor");
  query = initial.toString();
  search();
}
