// The official JavaScript SDK (@google/genai) against the emulator at $EMULATOR_BASE_URL.
//
// Run by tests/e2e/test_emulator_js_sdk.py, against `nanobanana emulate` started with
// --no-latency --batch-latency 0, so a batch is done when it is created. Every call the
// SDK makes must succeed and read back what the real service would give; the script
// prints one JSON line of what it saw and exits 0, or prints the failure and exits 1.
import assert from "node:assert/strict";
import { GoogleGenAI } from "@google/genai";

const baseUrl = process.env.EMULATOR_BASE_URL;
const apiKey = process.env.EMULATOR_API_KEY ?? "AIza-js-conformance";
if (!baseUrl) {
  console.error("EMULATOR_BASE_URL is not set");
  process.exit(2);
}

const PRO = "gemini-3-pro-image";
const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl } });
const seen = {};

function finalImage(response) {
  const parts = response.candidates?.[0]?.content?.parts ?? [];
  const images = parts.filter((part) => part.inlineData && !part.thought);
  return images.at(-1)?.inlineData;
}

async function main() {
  const config = { responseModalities: ["TEXT", "IMAGE"], imageConfig: { aspectRatio: "16:9" } };

  const answer = await ai.models.generateContent({
    model: PRO,
    contents: "Slide 1: The plan.",
    config,
  });
  const image = finalImage(answer);
  assert.equal(image?.mimeType, "image/jpeg");
  assert.ok(Buffer.from(image.data, "base64").length > 1000);
  seen.generateContent = { promptTokenCount: answer.usageMetadata?.promptTokenCount };

  const names = [];
  const pager = await ai.models.list({ config: { pageSize: 2 } });
  for await (const model of pager) {
    names.push(model.name);
  }
  assert.deepEqual(names, [
    "models/gemini-3-pro-image",
    "models/gemini-3.1-flash-image",
    "models/gemini-3.1-flash-lite-image",
    "models/gemini-2.5-flash-image",
  ]);
  seen.models = names;

  const model = await ai.models.get({ model: PRO });
  assert.equal(model.displayName, "Nano Banana Pro");
  assert.ok(model.supportedActions.includes("batchGenerateContent"));

  const counted = await ai.models.countTokens({ model: PRO, contents: "Slide 1: The plan." });
  assert.equal(counted.totalTokens, answer.usageMetadata.promptTokenCount);
  seen.countTokens = counted.totalTokens;

  let chunks = 0;
  let text = "";
  let last;
  for await (const chunk of await ai.models.generateContentStream({
    model: PRO,
    contents: "Slide 2: Streaming.",
    config,
  })) {
    chunks += 1;
    text += chunk.candidates?.[0]?.content?.parts?.map((p) => p.text ?? "").join("") ?? "";
    last = chunk;
  }
  assert.ok(chunks > 1, `${chunks} chunk(s)`);
  assert.equal(last.candidates[0].finishReason, "STOP");
  assert.equal(finalImage(last)?.mimeType, "image/jpeg");
  assert.ok(text.startsWith("Here is the slide:"), text);
  seen.stream = { chunks };

  const job = await ai.batches.create({
    model: PRO,
    src: [
      { contents: [{ role: "user", parts: [{ text: "Slide 3." }] }], metadata: { key: "slide-3" }, config },
      { contents: [{ role: "user", parts: [{ text: "Slide 4." }] }], metadata: { key: "slide-4" }, config },
    ],
    config: { displayName: "js-deck" },
  });
  assert.match(job.name, /^batches\/[a-z0-9]+$/);
  assert.equal(job.displayName, "js-deck");
  const done = await ai.batches.get({ name: job.name });
  assert.equal(done.state, "JOB_STATE_SUCCEEDED");
  const responses = done.dest.inlinedResponses;
  assert.deepEqual(
    responses.map((r) => r.metadata?.key),
    ["slide-3", "slide-4"],
  );
  for (const entry of responses) {
    assert.equal(finalImage(entry.response)?.mimeType, "image/jpeg");
  }
  seen.batch = { name: job.name, state: done.state, responses: responses.length };

  console.log(JSON.stringify(seen));
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  process.exit(1);
});
