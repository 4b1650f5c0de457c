#!/usr/bin/env python3
"""Writes N catalog items as JSON Lines (ids item-0000000 ...), shaped like the demo catalog
(tests/data/demo/items.jsonl): about 330 bytes and 11 fields per item. Deterministic for a given N.

    gen_items.py N OUT.jsonl
"""
import random
import sys

CATEGORIES = ["footwear", "outdoor", "kitchen", "beauty", "books", "toys", "garden", "electronics", "sports",
              "home", "pets", "office"]
BRANDS = ["Ridgeline", "Stridewell", "Verra", "Wildercraft", "Petal & Pine", "Northmark", "Caf\u00e9 Luna", "Kiyo"]
WORDS = ["trail", "everyday", "classic", "compact", "retro", "waterproof", "light", "pro", "mini", "deluxe"]
TAGS = ["bestseller", "new arrival", "gift idea", "comfort", "eco", "sale"]


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(42)
    with open(out, "w", encoding="utf-8") as f:
        for i in range(n):
            cat = CATEGORIES[i % len(CATEGORIES)]
            brand = BRANDS[rnd.randrange(len(BRANDS))]
            name = "%s %s %s %d" % (brand, WORDS[rnd.randrange(10)], cat, i)
            f.write('{"id":"item-%07d","name":"%s","category":"%s","brand":"%s","price":%.2f,"currency":"USD",'
                    '"rating":%.1f,"image_url":"https://images.example.com/item-%07d.jpg",'
                    '"description":"A %s %s from %s.","tags":["%s","%s"],"in_stock":%s}\n'
                    % (i, name, cat, brand, rnd.uniform(5, 300), rnd.uniform(1, 5), i, WORDS[rnd.randrange(10)],
                       cat, brand, cat, TAGS[rnd.randrange(6)], "true" if rnd.random() < 0.8 else "false"))


if __name__ == "__main__":
    main()
