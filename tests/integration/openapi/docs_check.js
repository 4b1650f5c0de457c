// Drives the server's Swagger UI page (/docs) in headless Chromium (Debian's /usr/bin/chromium via
// puppeteer-core over the DevTools protocol), as a developer would: the page lists the operations of
// the served document; on recommend-items, "Try it out" then "Execute" sends a real request, whose
// status and body the page shows. Saves two screenshots: the page as it opens (SHOT-overview.png)
// and the operation with its live response (SHOT-try-it-out.png).
// Prints one JSON line {title, operations, status, body, requests, consoleErrors}; exits 1 on failure.
//
// Usage: node docs_check.js DOCS_URL OPERATION_PATH SHOT
const puppeteer = require("puppeteer-core");

(async () => {
  const [url, opPath, shot] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"],
  });
  try {
    const page = await browser.newPage();
    const requests = [];
    const consoleErrors = [];
    page.on("request", (r) => requests.push(r.url()));
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.setViewport({width: 1280, height: 1000});
    const resp = await page.goto(url, {waitUntil: "networkidle0", timeout: 30000});
    if (resp.status() !== 200) throw new Error("status " + resp.status());
    await page.waitForSelector(".opblock-summary-path", {timeout: 30000});
    const title = await page.$eval(".info .title", (e) => e.innerText);
    await page.screenshot({path: shot + "-overview.png"});
    const operations = await page.$$eval(".opblock-summary", (els) => els.map((e) => {
      const m = e.querySelector(".opblock-summary-method");
      const p = e.querySelector(".opblock-summary-path");
      return (m ? m.innerText : "") + " " + (p ? p.getAttribute("data-path") || p.innerText : "");
    }));
    // Open the operation, "Try it out" (the path parameter is prefilled from the document's example),
    // "Execute", and wait for the live response.
    const block = await page.evaluateHandle((p) => {
      return [...document.querySelectorAll(".opblock")].find((b) => {
        const s = b.querySelector(".opblock-summary-path");
        return s && (s.getAttribute("data-path") || s.innerText.replace(/\u200b/g, "")) === p;
      });
    }, opPath);
    if (!block || !(await block.evaluate((b) => !!b))) throw new Error("no operation " + opPath);
    await (await block.$(".opblock-summary")).click();
    await block.waitForSelector(".try-out__btn", {timeout: 10000});
    await (await block.$(".try-out__btn")).click();
    await block.waitForSelector(".execute", {timeout: 10000});
    await (await block.$(".execute")).click();
    await block.waitForSelector(".live-responses-table tbody .response-col_status", {timeout: 20000});
    const status = await block.$eval(".live-responses-table tbody .response-col_status", (e) => e.innerText.trim());
    const body = await block.$eval(".live-responses-table .response-col_description pre, " +
                                   ".live-responses-table .microlight", (e) => e.innerText);
    const live = await block.$(".live-responses-table tbody");
    await live.evaluate((e) => e.scrollIntoView({block: "center"}));
    await page.screenshot({path: shot + "-try-it-out.png"});
    console.log(JSON.stringify({title, operations, status, body, requests, consoleErrors}));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
