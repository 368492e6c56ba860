// Upload throughput into R2 through the Worker in local workerd: one 32 MiB single-request
// upload (streamed and hashed in the Worker) and one 32 MiB multipart upload (4 parts of 8 MiB,
// sent 2 at a time, then assembled and read back for its checksum). Also the download rate.
// Prints `bench <name>: <value> <unit>` lines; progress on stderr.
import { createHash } from "node:crypto";
import { startApp, signup } from "../harness.mjs";
import { fakeMp4 } from "../support/assets-fixtures.mjs";

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const ROUNDS = 3;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, result };
}

function check(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: ${res.status}`);
}

const app = await startApp();
try {
  const owner = await signup(app, "bench");
  const org = owner.org.id;
  const auth = { authorization: `Bearer ${owner.session.token}` };

  const single = [];
  const multipart = [];
  const download = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Fresh bytes each time so no upload is answered as a duplicate.
    const bytes = fakeMp4(SIZE, 1000 + round * 2);
    const { ms, result: asset } = await timed(async () => {
      const res = await app.fetch(`/v1/orgs/${org}/assets?name=single-${round}`, { method: "POST", headers: auth, body: bytes });
      check(res, 201, "single upload");
      return (await res.json()).asset;
    });
    if (asset.sha256 !== createHash("sha256").update(bytes).digest("hex")) throw new Error("single upload checksum differs");
    single.push(ms);

    const { ms: downloadMs } = await timed(async () => {
      const res = await app.fetch(`/v1/assets/${asset.id}/content`, { headers: auth });
      check(res, 200, "download");
      const body = Buffer.from(await res.arrayBuffer());
      if (body.length !== SIZE) throw new Error("short download");
    });
    download.push(downloadMs);

    const big = fakeMp4(SIZE, 1001 + round * 2);
    const partSize = 8 * MiB;
    const { ms: multipartMs, result: parted } = await timed(async () => {
      const created = await app.fetch(`/v1/orgs/${org}/uploads`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ name: `multipart-${round}`, bytes: SIZE }),
      });
      check(created, 201, "create upload");
      const { upload } = await created.json();
      const numbers = Array.from({ length: SIZE / partSize }, (_, i) => i + 1);
      for (let i = 0; i < numbers.length; i += 2) {
        await Promise.all(
          numbers.slice(i, i + 2).map(async (n) => {
            const res = await app.fetch(`/v1/uploads/${upload.id}/parts/${n}`, {
              method: "PUT",
              headers: auth,
              body: big.subarray((n - 1) * partSize, n * partSize),
            });
            check(res, 200, `part ${n}`);
            await res.arrayBuffer();
          }),
        );
      }
      const done = await app.fetch(`/v1/uploads/${upload.id}/complete`, { method: "POST", headers: auth });
      check(done, 201, "complete");
      return (await done.json()).asset;
    });
    if (parted.sha256 !== createHash("sha256").update(big).digest("hex")) throw new Error("multipart checksum differs");
    multipart.push(multipartMs);
    process.stderr.write(`upload round ${round + 1}/${ROUNDS}\n`);
  }
  const rate = (ms) => (SIZE / MiB / (ms / 1000)).toFixed(1);
  // Headline: both ways together (2 × 32 MiB over their summed median times).
  console.log(`bench upload_mib_per_s: ${rate((median(single) + median(multipart)) / 2)} MiB/s`);
  console.log(`bench upload_single_32mib_mib_per_s: ${rate(median(single))} MiB/s`);
  console.log(`bench upload_multipart_32mib_mib_per_s: ${rate(median(multipart))} MiB/s`);
  console.log(`bench download_32mib_mib_per_s: ${rate(median(download))} MiB/s`);
} finally {
  await app.dispose();
}
