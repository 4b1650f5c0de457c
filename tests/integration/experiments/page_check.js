// Loads an experiment's results page in headless Chromium (Debian's /usr/bin/chromium, driven by
// puppeteer-core over the DevTools protocol), checks what a reader sees, and saves a screenshot.
// Prints one JSON line: {"verdict", "bars", "intervals", "rows", "requests"}; exits 1 on failure.
//
// Usage: node page_check.js URL SCREENSHOT.png
const puppeteer = require("puppeteer-core");

(async () => {
  const [url, shot] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check"],
  });
  try {
    const page = await browser.newPage();
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.setViewport({width: 1100, height: 900});
    const resp = await page.goto(url, {waitUntil: "load", timeout: 20000});
    if (resp.status() !== 200) throw new Error("status " + resp.status());
    const seen = await page.evaluate(() => ({
      verdict: document.querySelector("#verdict") && document.querySelector("#verdict").innerText,
      bars: [...document.querySelectorAll("svg.chart rect.bar")].map((r) => r.getBoundingClientRect().width),
      intervals: document.querySelectorAll("svg.chart g.interval").length,
      rows: [...document.querySelectorAll("table tr")].map((tr) => tr.innerText),
    }));
    await page.screenshot({path: shot, fullPage: true});
    seen.requests = requests;
    console.log(JSON.stringify(seen));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
