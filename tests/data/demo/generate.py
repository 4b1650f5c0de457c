#!/usr/bin/python3
"""Deterministic generator for the embedded demo data set (items.jsonl, events.jsonl).

Run from anywhere with `/usr/bin/python3 tests/data/demo/generate.py`; it writes next to itself.
Standard library only, fixed seed: the output is byte-for-byte reproducible.

Catalog model (items.jsonl, spec §5.2 JSON Lines with a required "id"):
  * 12 categories x 100 items = 1,200 items, ids sku-00001..sku-01200 in category blocks.
  * Each category has 4 subcategories, 6 fictional brands and, per subcategory, adjective and
    noun vocabularies; names are "<Brand> <Adjective> <Noun>" and unique.  Nouns carry a base
    price; price = base x brand tier x noise, ending in .99/.49/.95.
  * A few names carry non-ASCII text ("Crème", "Café", "Pâtisserie") and one noun/adjective
    family carries a double quote (12" skillet) so that JSON escaping and UTF-8 get exercised.

Event model (events.jsonl):
  * Item popularity is Zipf-like inside each category: every category's items get a random
    rank r and weight 1/(r+1)^1.1.  One mid-ranked item per category is "trending": its weight
    is multiplied by 12 during the last 5 days, so decayed popularity differs from all-time.
  * 400 users (user-0001..user-0400); each has 1-3 preferred categories (weighted by category
    appeal), a favourite subcategory per preferred category and a heavy-tailed activity level.
  * A session (3-15 events) picks one category (a preferred one 85% of the time) and a focus
    subcategory.  Each newly viewed item comes 60% from the focus subcategory, 28% from the
    rest of the category and 12% from elsewhere (mostly a related category such as
    outdoor<->footwear), always popularity-weighted.  Items in the same category/subcategory
    therefore co-occur within sessions, which is what the co-occurrence recommender learns.
  * Funnel: sessions mostly view new items; sometimes they advance an already viewed item to
    click -> add-to-cart -> purchase, with decreasing probabilities (view > click > cart > buy).
  * sentAt: epoch seconds spread over the 30 days before BASE_TIME (2025-11-24), events in a
    session 8-150 s apart.  The server rebases the history at load, so fixed times are fine.
  * user-0001 is scripted: outdoor (favourite: camping) and footwear (favourite: hiking shoes),
    no exploration sessions and three recent sessions, so README examples show a visibly personalized result.
"""
import json
import os
import random

SEED = 20251124
BASE_TIME = 1764000000  # 2025-11-24T16:00:00Z
DAYS = 30
N_USERS = 400
ITEMS_PER_CATEGORY = 100

# category: (appeal weight, brands, related category, tag pool, benefit phrases,
#            {subcategory: (adjectives, "Noun:base_price|...")})
CATALOG = {
    "footwear": (1.1, "Trailhead|Stridewell|Kestrel|Cobbler & Finch|Verra|Ridgeline", "outdoor",
        "comfort|all-day wear|grippy outsole|gift idea|new arrival|vegan", [
        "built for all-day comfort", "with a grippy rubber outsole", "with a cushioned footbed"], {
        "hiking-shoes": ("Waterproof|Lightweight|Insulated|All-Terrain|Leather|Mid-Cut",
                         "Hiking Boot:149|Trail Shoe:119|Approach Shoe:129|Backpacking Boot:169"),
        "running-shoes": ("Cushioned|Responsive|Breathable|Carbon-Plate|Stability|Featherweight",
                          "Running Shoe:129|Racing Flat:159|Trail Runner:139|Training Shoe:99"),
        "casual-shoes": ("Classic|Everyday|Canvas|Suede|Retro|Slip-Resistant",
                         "Sneaker:79|Loafer:99|Slip-On:59|Court Shoe:69|Boat Shoe:89"),
        "boots": ("Shearling-Lined|Waterproof|Heritage|Steel-Toe|Insulated|Oiled Leather",
                  "Chelsea Boot:149|Work Boot:169|Winter Boot:159|Rain Boot:69|Chukka Boot:129")}),
    "outdoor": (1.2, "Northpeak|Summit & Pine|Bearpaw Gear|Alpenglow|Wildercraft|Cascadia", "footwear",
        "backpacking|ultralight|waterproof|trail-tested|gift idea|weekend trips", [
        "ready for your next trip outdoors", "tested on long alpine trails", "that packs down small for backpacking"], {
        "camping": ("Ultralight|Compact|Packable|Basecamp|Trail-Ready|Expedition",
                    "Backpacking Tent:249|Sleeping Bag:149|Sleeping Pad:89|Camp Stove:59|Camp Chair:49|Hammock:45"),
        "packs": ("Ultralight|Roll-Top|Waterproof|Lightweight|Trail|Adventure",
                  "Daypack:79|Backpacking Pack:199|Hydration Pack:69|Dry Bag:29|Hip Pack:39"),
        "climbing": ("Lightweight|Alpine|Bouldering|Sport|Expedition|Everyday",
                     "Climbing Rope:189|Harness:69|Carabiner Set:39|Chalk Bag:19|Crash Pad:179|Belay Device:29"),
        "essentials": ("Rugged|Compact|Trail|Waterproof|Lightweight|Expedition",
                       "Headlamp:39|Camp Lantern:34|Flashlight:29|Water Filter:44|Multi-Tool:59|Compass:24")}),
    "kitchen": (1.0, "Copperleaf|Hearth & Table|Mesa|Ironwood|Culina|Saltbox", "grocery",
        "cooking|dishwasher-safe|chef favorite|gift idea|new arrival|everyday essential", [
        "made for everyday cooking", "designed with home chefs in mind", "easy to clean after dinner"], {
        "cookware": ('Nonstick|Cast Iron|Tri-Ply Stainless|Enameled|Carbon Steel|12"',
                     "Skillet:49|Dutch Oven:119|Saucepan:59|Stockpot:79|Wok:54|Grill Pan:44"),
        "cutlery": ("Forged|Japanese Steel|Ceramic|Damascus|Professional|Ergonomic",
                    "Chef's Knife:89|Santoku Knife:79|Paring Knife:24|Knife Block Set:189|Bread Knife:49|Steak Knife Set:59"),
        "appliances": ("Programmable|Compact|Digital|Countertop|Stainless Steel|Smart",
                       "Blender:99|Air Fryer:119|Stand Mixer:299|Slow Cooker:69|Toaster Oven:129|Electric Kettle:49"),
        "coffee-gear": ("Stainless Steel|Double-Wall|Café-Style|Compact|Barista-Grade|Matte Black",
                        "Espresso Machine:349|Burr Grinder:129|French Press:34|Pour-Over Set:44|Milk Frother:39|Travel Mug:24")}),
    "electronics": (1.2, "Voltra|Lumina|Aurion|Pixelwave|Sonique|Helix Labs", "home",
        "wireless|bluetooth|usb-c|gift idea|new arrival|long battery life", [
        "with a long-lasting battery", "that pairs in seconds", "with a two-year warranty"], {
        "audio": ("Wireless|Bluetooth|Studio|Hi-Fi|Compact|Premium",
                  "Headphones:149|Earbuds:99|Portable Speaker:79|Soundbar:249|Turntable:199"),
        "computing": ("Slim|Pro|Compact|Ultra|Essential|Portable",
                      "Laptop:899|Keyboard:79|Mouse:39|Monitor:279|USB-C Hub:49|External SSD:119"),
        "mobile": ("Rugged|Slim|Magnetic|Compact|Premium|Everyday",
                   "Phone Case:29|Power Bank:45|Charging Stand:39|Screen Protector:15|Car Mount:25"),
        "smart-home": ("Wi-Fi|Voice-Controlled|Connected|Energy-Saving|Compact|Wireless",
                       "Security Camera:89|Video Doorbell:129|Smart Plug:19|Thermostat:169|Light Bulb Kit:49")}),
    "books": (0.9, "Northwind Press|Lantern House|Blue Heron Books|Paperkite|Meridian|Oakleaf Publishing", "toys",
        "paperback|hardcover|book club pick|staff pick|gift idea|new release", [
        "a staff favorite this season", "with a foreword by the editors", "perfect for a long weekend"], {
        "fiction": ("Paperback|Hardcover|Illustrated|Deluxe|Award-Winning|Bestselling",
                    "Mystery Novel:16|Fantasy Saga:18|Sci-Fi Thriller:17|Historical Romance:15|Short Story Collection:14"),
        "cookbooks": ("Illustrated|Complete|Weeknight|Plant-Based|Regional|Classic",
                      "Cookbook:29|Baking Handbook:27|Pasta Guide:24|Pâtisserie Guide:32|Grilling Bible:26"),
        "travel-guides": ("Pocket|Illustrated|Complete|Revised|Regional|Waterproof",
                          "Field Guide to Birds:22|National Parks Atlas:34|Trail Guide:19|Road Trip Atlas:25|Travel Phrasebook:12"),
        "childrens-books": ("Illustrated|Bedtime|Interactive|Lift-the-Flap|Rhyming|Oversized",
                            "Picture Book:12|Activity Book:9|Early Reader:7|Story Collection:19|Coloring Book:8")}),
    "toys": (0.9, "Brightblock|Tinker & Twig|Wonderkit|Pebble Play|Kitecraft|Marblemoon", "books",
        "ages 3+|educational|stem|family fun|gift idea|screen-free", [
        "for hours of screen-free fun", "that grows with your child", "loved by kids and parents alike"], {
        "building": ("Magnetic|Wooden|Deluxe|Starter|Motorized|Glow-in-the-Dark",
                     "Building Set:39|Block Tower:24|Marble Run:44|Construction Kit:34"),
        "games": ("Family|Cooperative|Strategy|Travel|Party|Classic",
                  "Board Game:29|Card Game:14|Jigsaw Puzzle:19|Dice Game:12|Trivia Game:24"),
        "outdoor-play": ("Giant|Light-Up|Junior|Backyard|Summer|Deluxe",
                         "Kite:24|Water Blaster:19|Bubble Machine:22|Scooter:59|Flying Disc:12"),
        "plush": ("Soft|Cuddly|Huggable|Collectible|Mini|Jumbo",
                  "Teddy Bear:22|Plush Fox:18|Puppet Set:27|Stuffed Dinosaur:20|Plush Unicorn:21")}),
    "beauty": (1.0, "Petal & Pine|Aurelle|Dewdrop|Saltwater Skin|Velvet Fig|Lumen Botanica", "apparel",
        "cruelty-free|vegan|fragrance-free|dermatologist-tested|gift idea|travel size", [
        "made with clean ingredients", "gentle enough for daily use", "in recyclable packaging"], {
        "skincare": ("Hydrating|Brightening|Gentle|Overnight|Vitamin C|Fragrance-Free",
                     "Face Serum:34|Moisturizer:28|Cleanser:18|Eye Cream:32|Night Crème:38|Sunscreen SPF 50:22"),
        "haircare": ("Nourishing|Volumizing|Sulfate-Free|Argan Oil|Repairing|Curl-Defining",
                     "Shampoo:16|Conditioner:16|Hair Mask:24|Styling Cream:19|Dry Shampoo:14"),
        "makeup": ("Long-Wear|Matte|Satin|Waterproof|Sheer|Buildable",
                   "Lipstick:18|Mascara:16|Foundation:32|Eyeshadow Palette:38|Blush:22"),
        "bath-body": ("Lavender|Citrus|Sandalwood|Rose|Vanilla|Sea Salt",
                      "Eau de Parfum:78|Body Lotion:19|Bath Bomb Set:24|Scented Candle:29|Body Wash:12")}),
    "apparel": (1.3, "Harbor & Lane|Cotton Row|Fieldstone|Urban Thread|Moss & Maple|Tidewell", "footwear",
        "organic cotton|machine washable|relaxed fit|gift idea|new arrival|recycled", [
        "cut for an easy, relaxed fit", "made from responsibly sourced fabric", "that layers well in any season"], {
        "tops": ("Organic Cotton|Merino|Linen|Relaxed-Fit|Striped|Performance",
                 "T-Shirt:24|Button-Down Shirt:49|Sweater:69|Hoodie:54|Polo:39"),
        "bottoms": ("Slim-Fit|Stretch|Relaxed|Classic|Organic Cotton|Everyday",
                    "Jeans:69|Chinos:54|Joggers:44|Shorts:34|Skirt:44"),
        "outerwear": ("Packable|Quilted|Lightweight|Insulated|Water-Resistant|Classic",
                      "Rain Jacket:119|Puffer Jacket:159|Fleece Jacket:69|Parka:229|Vest:79"),
        "accessories": ("Classic|Leather|Reversible|Cashmere|Wool|Canvas",
                        "Beanie:24|Scarf:39|Belt:34|Gloves:29|Baseball Cap:24|Tote Bag:34")}),
    "home": (1.0, "Nordlys|Linen & Loom|Willowbrook|Haven Home|Slate & Stone|Driftwood & Co", "garden",
        "cozy|minimalist|easy care|gift idea|new arrival|sustainable", [
        "that makes any room feel cozier", "designed to last for years", "in a timeless, minimal style"], {
        "bedding": ("Percale|Sateen|Linen|Bamboo|Hotel-Style|Organic Cotton",
                    "Sheet Set:89|Duvet Cover:109|Pillow Pair:59|Throw Blanket:49|Comforter:139"),
        "decor": ("Ceramic|Woven|Minimalist|Vintage-Style|Hand-Painted|Brass",
                  "Table Lamp:79|Vase:34|Wall Mirror:119|Picture Frame Set:29|Candle Holder:24"),
        "bath": ("Turkish Cotton|Quick-Dry|Plush|Waffle-Weave|Bamboo|Organic",
                 "Bath Towel Set:59|Bath Mat:29|Shower Curtain:34|Bathrobe:69|Hand Towel Pair:24"),
        "storage": ("Stackable|Collapsible|Compact|Bamboo|Heavy-Duty|Modular",
                    "Storage Bin Set:34|Laundry Hamper:39|Shelf Organizer:44|Drawer Dividers:24|Closet System:149")}),
    "sports": (1.0, "Apex Athletics|Ironclad Fitness|Velocity|Courtside|Endura|Riptide", "apparel",
        "training|home gym|competition|gift idea|new arrival|durable", [
        "built for serious training", "trusted by weekend athletes", "that stands up to hard use"], {
        "fitness": ("Pro|Compact|Heavy-Duty|Home Gym|Premium|Essential",
                    "Dumbbell Set:129|Yoga Mat:34|Kettlebell:49|Resistance Band Set:24|Foam Roller:22|Pull-Up Bar:39"),
        "cycling": ("Lightweight|Commuter|Gravel|Reflective|Pro|Urban",
                    "Bike Helmet:79|Bike Light Set:39|Cycling Gloves:24|Bottle Cage:14|Bike Lock:44|Saddle Bag:29"),
        "team-sports": ("Official-Size|Training|Match|Indoor|Outdoor|Youth",
                        "Soccer Ball:29|Basketball:34|Volleyball:27|Goalkeeper Gloves:39|Shin Guards:19"),
        "racket-sports": ("Lightweight|Tournament|Beginner|Pro|Club|Championship",
                          "Tennis Racket:129|Pickleball Paddle:69|Badminton Set:49|Tennis Balls 3-Pack:6|Racket Bag:59")}),
    "grocery": (1.3, "Golden Acre|Harvest Lane|Little Orchard|Stonemill|Blue Ridge Pantry|Wildbloom", "kitchen",
        "organic|gluten-free|non-gmo|fair trade|pantry staple|small batch", [
        "sourced from family farms", "a pantry staple in many kitchens", "made in small batches"], {
        "coffee-tea": ("Organic|Fair Trade|Single-Origin|Decaf|Small-Batch|Crème Brûlée",
                       "Whole Bean Coffee:14|Ground Coffee:12|Espresso Pods:11|Cold Brew Concentrate:9|Loose Leaf Tea:10|Chai Tea:7"),
        "snacks": ("Sea Salt|Honey Roasted|Lightly Salted|Gluten-Free|Organic|Family-Size",
                   "Almonds:9|Granola:7|Trail Mix:8|Kettle Chips:4|Protein Bar Box:19|Popcorn:5"),
        "pantry": ("Organic|Artisan|Small-Batch|Premium|Imported|Farmhouse",
                   "Olive Oil:16|Pasta:4|Honey:11|Maple Syrup:14|Balsamic Vinegar:12|Sea Salt Flakes:8"),
        "breakfast": ("Organic|Whole Grain|Artisan|Lightly Sweetened|Family-Size|Classic",
                      "Oatmeal:6|Pancake Mix:5|Cereal:5|Fruit Preserves:7|Nut Butter:9")}),
    "garden": (0.8, "Greenthumb|Rootstock|Fern & Feather|Meadowlark|Terra Verde|Bramblewood", "home",
        "weather-resistant|pollinator friendly|easy grow|gift idea|new arrival|organic gardening", [
        "for a greener backyard", "built to weather every season", "that makes gardening easier"], {
        "garden-tools": ("Ergonomic|Stainless Steel|Heavy-Duty|Lightweight|Professional|Compact",
                         "Pruning Shears:24|Garden Trowel:14|Hedge Trimmer:89|Leaf Blower:129|Garden Hose:39|Rake:29"),
        "planters": ("Self-Watering|Modern|Rustic|Recycled|Cedar|Large",
                     "Planter:29|Raised Garden Bed:119|Window Box:34|Plant Stand:44|Hanging Basket:24"),
        "seeds-plants": ("Heirloom|Organic|Non-GMO|Starter|Hardy|Native",
                         "Tomato Seeds:4|Herb Seed Kit:14|Wildflower Seed Mix:9|Lavender Plant:16|Fruit Tree Sapling:39"),
        "outdoor-living": ("Weather-Resistant|Teak|Powder-Coated|Folding|Modern|Rustic",
                           "Patio Chair:129|Solar Path Lights:34|Bird Feeder:27|Fire Pit:179|String Lights:29")}),
}
CATEGORIES = list(CATALOG)
EVENT_TYPES = ["view", "click", "add-to-cart", "purchase"]
ADVANCE = [None, 0.75, 0.70, 0.80]  # chance that an attempted funnel step happens


PROPER = {"Japanese", "Damascus", "Turkish", "Vitamin"}


def describe(adj, noun, brand, benefit):
    """One sentence; lower-cases the name mid-sentence but keeps acronyms, sizes and proper words."""
    words = f"{adj} {noun}".split()
    phrase = " ".join(w if w.isupper() or w in PROPER or any(c.isdigit() for c in w) else w.lower()
                      for w in words)
    if noun.endswith("s") and not noun.endswith("ss"):  # plural noun: no article
        return f"{phrase[0].upper()}{phrase[1:]} from {brand}, {benefit}."
    return f"{'An' if phrase[0] in 'aeiou' else 'A'} {phrase} from {brand}, {benefit}."


def make_price(rng, base, tier):
    value = base * tier * rng.uniform(0.75, 1.3)
    whole = max(1, round(value))
    return round(whole - rng.choice([0.01, 0.01, 0.01, 0.51, 0.05]), 2) if whole > 1 else 0.99


def build_catalog(rng):
    items = []
    for cat in CATEGORIES:
        _, brands, _, tag_pool, benefits, subs = CATALOG[cat]
        brands, tag_pool = brands.split("|"), tag_pool.split("|")
        tiers = dict(zip(brands, rng.sample([0.8, 0.9, 1.0, 1.1, 1.25, 1.5], 6)))
        ranks = list(range(ITEMS_PER_CATEGORY))
        rng.shuffle(ranks)  # Zipf popularity rank, independent of id order
        seen = set()
        for n in range(ITEMS_PER_CATEGORY):
            sub = list(subs)[n % len(subs)]
            adjs, nouns = subs[sub][0].split("|"), [x.rsplit(":", 1) for x in subs[sub][1].split("|")]
            while True:
                brand, adj, (noun, base) = rng.choice(brands), rng.choice(adjs), rng.choice(nouns)
                name = f"{brand} {adj} {noun}"
                if name not in seen:
                    seen.add(name)
                    break
            tags = [sub] + rng.sample([t for t in tag_pool if t != sub], rng.randint(1, 3))
            if ranks[n] < 5:
                tags = tags[:3] + ["bestseller"]
            items.append({
                "category": cat, "subcategory": sub, "name": name, "brand": brand,
                "price": make_price(rng, float(base), tiers[brand]),
                "rating": round(min(5.0, max(2.5, rng.gauss(4.2 + (0.2 if ranks[n] < 10 else 0), 0.4))), 1),
                "description": describe(adj, noun, brand, rng.choice(benefits)),
                "tags": tags, "in_stock": rng.random() > 0.07, "_rank": ranks[n]})
    rng.shuffle(items)  # mix subcategories inside each category block, then renumber by category
    items.sort(key=lambda it: CATEGORIES.index(it["category"]))
    for i, it in enumerate(items, 1):
        it["id"] = f"sku-{i:05d}"
        it["image_url"] = f"https://images.example.com/{it['id']}.jpg"
        it["currency"] = "USD"
    return items


class Popularity:
    """Zipf weights per category / subcategory, with a late-window boost for trending items."""

    def __init__(self, rng, items):
        self.by_cat, self.by_sub = {}, {}
        for it in items:
            w = 1.0 / (it["_rank"] + 1) ** 1.1
            self.by_cat.setdefault(it["category"], []).append([it["id"], w])
            self.by_sub.setdefault((it["category"], it["subcategory"]), []).append([it["id"], w])
        mid = [it for it in items if 20 <= it["_rank"] < 40]
        self.trending = {rng.choice([it for it in mid if it["category"] == c])["id"] for c in CATEGORIES}
        self.trend_start = BASE_TIME - 5 * 86400

    def pick(self, rng, pool, t):
        boost = 12.0 if t >= self.trend_start else 1.0
        weights = [w * boost if i in self.trending else w for i, w in pool]
        return rng.choices(pool, weights)[0][0]


def make_users(rng):
    cat_w = [CATALOG[c][0] for c in CATEGORIES]
    users = []
    for u in range(1, N_USERS + 1):
        n = rng.choices([1, 2, 3], [0.4, 0.4, 0.2])[0]
        cats = []
        while len(cats) < n:
            c = rng.choices(CATEGORIES, cat_w)[0]
            if c not in cats:
                cats.append(c)
        prefs = list(zip(cats, [0.6, 0.3, 0.1][:n]))
        favs = {c: rng.choice(list(CATALOG[c][5])) for c in cats}
        sessions = max(2, min(30, round(rng.lognormvariate(1.76, 0.6))))
        users.append({"id": f"user-{u:04d}", "prefs": prefs, "favs": favs, "sessions": sessions, "explore": 0.15})
    # user-0001: a clear outdoor / footwear taste with recent activity (README examples).
    users[0].update(prefs=[("outdoor", 0.75), ("footwear", 0.25)], sessions=10, explore=0.0,
                    favs={"outdoor": "camping", "footwear": "hiking-shoes"})
    return users


def make_session(rng, pop, user, start):
    cats, weights = zip(*user["prefs"])
    if rng.random() < user["explore"]:
        cat = rng.choice(CATEGORIES)
    else:
        cat = rng.choices(cats, weights)[0]
    subs = list(CATALOG[cat][5])
    sub = user["favs"].get(cat) if rng.random() < 0.5 and cat in user["favs"] else rng.choice(subs)
    related = CATALOG[cat][2]
    length = min(15, 3 + int(rng.expovariate(1 / 4.5)))
    t, stage, order, events = start, {}, [], []
    while len(events) < length:
        t += rng.randint(8, 150)
        open_items = [i for i in order if stage[i] < 3]
        if open_items and rng.random() < 0.45:
            item = open_items[-1] if rng.random() < 0.6 else rng.choice(open_items)
            if rng.random() < ADVANCE[stage[item] + 1]:
                stage[item] += 1
                events.append((t, EVENT_TYPES[stage[item]], item))
                continue
        r = rng.random()
        if r < 0.60:
            pool = pop.by_sub[(cat, sub)]
        elif r < 0.88 or user["explore"] == 0.0 and r < 0.94:
            pool = pop.by_cat[cat]
        else:
            other = related if rng.random() < 0.6 else rng.choice(CATEGORIES)
            pool = pop.by_cat[other]
        for _ in range(3):  # prefer items not yet seen in this session
            item = pop.pick(rng, pool, t)
            if item not in stage:
                break
        if item not in stage:
            stage[item] = 0
            order.append(item)
        events.append((t, "view", item))
    return events


def main():
    rng = random.Random(SEED)
    here = os.path.dirname(os.path.abspath(__file__))
    items = build_catalog(rng)
    pop = Popularity(rng, items)
    sessions = []
    window = DAYS * 86400
    for user in make_users(rng):
        for k in range(user["sessions"]):
            start = BASE_TIME - window + rng.randint(0, window - 3 * 3600)
            if user["id"] == "user-0001" and k >= user["sessions"] - 3:
                start = BASE_TIME - rng.randint(6 * 3600, 3 * 86400)  # recent sessions
            sessions.append((start, user["id"], make_session(rng, pop, user, start)))
    sessions.sort(key=lambda s: (s[0], s[1]))
    events = []
    for n, (_, uid, evs) in enumerate(sessions, 1):
        for t, etype, item in evs:
            events.append({"userId": uid, "sessionId": f"s-{n:04d}", "eventType": etype,
                           "itemId": item, "sentAt": t})
    events.sort(key=lambda e: e["sentAt"])  # stable: ties keep session order
    assert events[-1]["sentAt"] < BASE_TIME and events[0]["sentAt"] >= BASE_TIME - window

    keys = ["id", "name", "category", "subcategory", "brand", "price", "currency", "rating",
            "image_url", "description", "tags", "in_stock"]
    with open(os.path.join(here, "items.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for it in items:
            f.write(json.dumps({k: it[k] for k in keys}, ensure_ascii=False, separators=(",", ":")) + "\n")
    with open(os.path.join(here, "events.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")

    funnel = {t: sum(e["eventType"] == t for e in events) for t in EVENT_TYPES}
    print(f"items: {len(items)}  users: {N_USERS}  sessions: {len(sessions)}  events: {len(events)}")
    print("funnel: " + ", ".join(f"{t}={n}" for t, n in funnel.items()))
    print("trending: " + ", ".join(sorted(pop.trending)))


if __name__ == "__main__":
    main()
