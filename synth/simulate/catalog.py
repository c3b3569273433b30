"""The simulated store's catalog: a hand-written REES46-style category tree, brands and prices.

The tree mirrors the style of the real multi-category store: dot-separated codes
(``electronics.smartphone``, ``appliances.kitchen.refrigerators``), 19-digit category ids, and a
third of the traffic in categories that carry no code at all (tyres, jewellery, perfume, ...,
as in the real data where ``category_code`` is empty in about 33% of rows). Each category has a
traffic share, a log-normal price law (median and log-scale spread), an ordered brand list whose
shares fall off like Zipf, the share of its items sold with no brand, and a catalog *breadth*
(how many distinct products it has relative to its traffic). Shares, medians and spreads were
set from the real October 2019 sample and then tuned by ``bench/calibrate_simulator.py``.

Products are implicit: product ``(category c, popularity rank r)`` exists for ``r < n_c``, and all
its attributes (id, brand, price) are pure functions of ``(seed, c, r)``. Nothing is joined and
nothing per product is ever materialized, so the catalog scales to millions of products.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column
from pyspark.sql import functions as F

from synth.seeding import derive_seed
from synth.simulate.tables import (
    choose_in,
    double_array,
    format_cents,
    int_array,
    key_normal,
    key_uniform,
    lookup,
    quantize_weights,
    string_array,
)

# A big prime: (rank * _SLOT_PRIME) mod n is a bijection of [0, n) for every n < _SLOT_PRIME,
# which scatters popular products over the id block like real ids.
_SLOT_PRIME = 1_000_000_007
_PRODUCT_ID_BASE = 1_000_000
_BRAND_SLOTS = 256
_BRAND_ZIPF = 1.0
_MAX_PRICE_CENTS = 500_000  # 5,000.00: the real store's most expensive items are ~2,600
_MIN_PRICE_CENTS = 50


@dataclass(frozen=True)
class Category:
    """One leaf category of the store.

    Attributes:
        code: The dot-separated REES46 category code, or ``None`` for an uncoded category.
        name: A stable internal name (the code for coded categories); seeds the category id.
        group: The top-level group (``electronics``, ``appliances``, ...; hidden groups such as
            ``beauty`` for uncoded categories). Segment preferences act on groups.
        share: Share of all (human) traffic, in per cent; normalized over the tree.
        median_price: Median item price.
        price_sigma: Log-scale standard deviation of item prices.
        brands: Brands in decreasing market share (Zipf-like shares).
        no_brand: Share of the category's items that carry no brand.
        breadth: Relative number of distinct products per unit of traffic (1 = typical; phones
            are narrow: few models take most of the traffic).
    """

    code: str | None
    name: str
    group: str
    share: float
    median_price: float
    price_sigma: float
    brands: tuple[str, ...] = ()
    no_brand: float = 0.02
    breadth: float = 1.0


def _c(
    code: str,
    share: float,
    median: float,
    sigma: float,
    brands: str = "",
    no_brand: float = 0.02,
    breadth: float = 1.0,
) -> Category:
    return Category(
        code=code,
        name=code,
        group=code.split(".", 1)[0],
        share=share,
        median_price=median,
        price_sigma=sigma,
        brands=tuple(b for b in brands.split() if b),
        no_brand=no_brand if brands else 1.0,
        breadth=breadth,
    )


def _u(
    name: str,
    group: str,
    share: float,
    median: float,
    sigma: float,
    brands: str = "",
    no_brand: float = 0.2,
    breadth: float = 1.0,
) -> Category:
    return Category(
        code=None,
        name=f"uncoded:{name}",
        group=group,
        share=share,
        median_price=median,
        price_sigma=sigma,
        brands=tuple(b for b in brands.split() if b),
        no_brand=no_brand if brands else 1.0,
        breadth=breadth,
    )


# A table of values: one category per call, aligned, reads better than one argument a line.
# fmt: off
CATEGORY_TREE: tuple[Category, ...] = (
    # -- electronics ---------------------------------------------------------------------------
    _c("electronics.smartphone", 27.0, 300, 0.8,
       "samsung apple xiaomi huawei oppo vivo meizu nokia honor realme", 0.001, 0.12),
    _c("electronics.clocks", 3.2, 165, 1.1,
       "casio apple samsung xiaomi garmin tissot amazfit swiss", 0.17),
    _c("electronics.audio.headphone", 2.3, 71, 1.0,
       "apple xiaomi elari samsung jbl sony huawei sennheiser", 0.01),
    _c("electronics.video.tv", 1.4, 420, 0.65, "samsung artel lg sony haier yasin philips", 0.01),
    _c("electronics.telephone", 1.0, 26, 0.6, "nokia texet bq inoi panasonic prestigio", 0.01),
    _c("electronics.audio.subwoofer", 0.5, 102, 0.67,
       "pride pioneer alpine hertz mystery alphard", 0.27),
    _c("electronics.tablet", 0.41, 384, 0.9, "apple samsung prestigio huawei wacom bq", 0.01),
    _c("electronics.audio.acoustic", 0.14, 156, 0.77, "fender yamaha denn squier bose"),
    _c("electronics.camera.video", 0.11, 232, 0.45, "xiaomi gopro panasonic sony"),
    _c("electronics.video.projector", 0.09, 403, 0.86, "viewsonic cinemood byintek epson vivitek"),
    _c("electronics.audio.microphone", 0.06, 19, 1.0, "trust hoco ritmix", 0.27),
    _c("electronics.camera.photo", 0.02, 640, 0.5, "canon nikon sony"),
    # -- computers -----------------------------------------------------------------------------
    _c("computers.notebook", 3.2, 597, 0.62, "acer lenovo hp asus apple dell xiaomi msi", 0.004),
    _c("computers.desktop", 0.67, 617, 0.8, "pulser acer hp lenovo netechnics apple", 0.03),
    _c("computers.components.videocards", 0.33, 315, 0.79, "palit asus gigabyte powercolor msi"),
    _c("computers.peripherals.monitor", 0.26, 107, 0.86, "samsung qmax acer lg asus aoc"),
    _c("computers.peripherals.printer", 0.21, 136, 0.47, "epson hp canon samsung"),
    _c("computers.components.hdd", 0.2, 40, 0.42, "kingston transcend crucial apacer"),
    _c("computers.peripherals.mouse", 0.16, 20, 1.1,
       "logitech hp delux kingston x-game crown", 0.15),
    _c("computers.peripherals.keyboard", 0.14, 46, 0.75,
       "redragon rapoo defender kingston sven", 0.12),
    _c("computers.components.memory", 0.13, 49, 0.76, "hyperx geil kingston crucial", 0.2),
    _c("computers.components.motherboard", 0.1, 153, 0.52, "asus asrock gigabyte msi"),
    _c("computers.components.power_supply", 0.1, 75, 0.35, "huntkey gigabyte cougar corsair"),
    _c("computers.components.cpu", 0.09, 249, 0.8, "intel amd"),
    _c("computers.components.cooler", 0.06, 32, 0.9, "almacom enermax aerocool deepcool"),
    _c("computers.ebooks", 0.02, 128, 0.25, "pocketbook"),
    # -- appliances ----------------------------------------------------------------------------
    _c("appliances.kitchen.refrigerators", 1.9, 311, 0.6,
       "indesit lg beko atlant haier dometic samsung bosch", 0.2),
    _c("appliances.environment.vacuum", 1.6, 117, 0.83,
       "samsung karcher xiaomi vitek bosch gorenje philips lg", 0.08),
    _c("appliances.environment.air_heater", 1.4, 34, 0.59,
       "oasis elenberg electrolux ballu timberk midea", 0.1),
    _c("appliances.kitchen.washer", 1.3, 335, 0.5,
       "samsung lg indesit beko midea artel bosch", 0.01),
    _c("appliances.kitchen.meat_grinder", 0.73, 72, 0.56,
       "bosch redmond moulinex dauscher elenberg polaris", 0.2),
    _c("appliances.kitchen.microwave", 0.53, 86, 0.65, "samsung elenberg lg gorenje ava horizont"),
    _c("appliances.environment.water_heater", 0.52, 99, 0.49,
       "ariston artel thermex haier teploross aqua", 0.12),
    _c("appliances.iron", 0.5, 28, 0.71, "tefal redmond scarlett elenberg philips vitek"),
    _c("appliances.kitchen.blender", 0.49, 54, 0.52,
       "redmond polaris braun vitek panasonic philips"),
    _c("appliances.environment.air_conditioner", 0.4, 197, 0.48,
       "elenberg tcl almacom atlantic midea mdv", 0.04),
    _c("appliances.kitchen.oven", 0.34, 55, 0.8, "artel elenberg asel bosch shivaki hansa"),
    _c("appliances.sewing_machine", 0.33, 235, 0.9, "janome bernina jaguar brother elna"),
    _c("appliances.kitchen.kettle", 0.33, 36, 0.8,
       "tefal dauscher maxwell elenberg panasonic polaris"),
    _c("appliances.kitchen.hood", 0.32, 69, 0.54, "artel turbo turboair midea dauscher zorg", 0.05),
    _c("appliances.kitchen.mixer", 0.29, 33, 1.0, "polaris scarlett elenberg bosch panasonic"),
    _c("appliances.kitchen.grill", 0.24, 113, 0.5, "redmond tefal delonghi maxwell vitek"),
    _c("appliances.kitchen.dishwasher", 0.2, 386, 0.35, "bosch beko dauscher hansa indesit midea"),
    _c("appliances.kitchen.hob", 0.17, 229, 0.66, "dauscher bosch hansa samsung greta beko"),
    _c("appliances.personal.hair_cutter", 0.15, 22, 0.65, "philips vitek moser scarlett maxwell"),
    _c("appliances.personal.scales", 0.14, 18, 0.54, "bene xiaomi redmond galaxy elenberg"),
    _c("appliances.ironing_board", 0.06, 30, 0.3, "nika perilla"),
    _c("appliances.kitchen.juicer", 0.06, 134, 0.48, "bosch elenberg philips braun"),
    _c("appliances.kitchen.coffee_machine", 0.05, 60, 1.2,
       "delonghi philips saeco maxwell gorenje"),
    _c("appliances.kitchen.toster", 0.05, 31, 0.7, "philips smeg vitek gorenje", 0.1),
    _c("appliances.kitchen.steam_cooker", 0.04, 36, 0.3, "polaris tefal", 0.1),
    # -- furniture -----------------------------------------------------------------------------
    _c("furniture.living_room.cabinet", 0.83, 283, 0.42, "sv brw bts", 0.57),
    _c("furniture.living_room.sofa", 0.73, 541, 0.36, "rals imperial divalux", 0.9),
    _c("furniture.bedroom.bed", 0.64, 155, 0.68, "sv brw bts polini lorelli romack", 0.44),
    _c("furniture.kitchen.table", 0.26, 116, 0.82, "bts sv domini ersport brw", 0.5),
    _c("furniture.kitchen.chair", 0.22, 57, 0.68, "zeta shenma joie barneo mamadoma", 0.33),
    _c("furniture.living_room.chair", 0.18, 205, 0.69, "heyner lorelli bertoni joie siger", 0.42),
    _c("furniture.bedroom.pillow", 0.1, 15, 0.74, "belashoff vegas tamish altinbasak", 0.41),
    _c("furniture.bathroom.toilet", 0.07, 73, 0.3, "cersanit santeri sanita santek"),
    _c("furniture.universal.light", 0.06, 150, 1.0, "mantra futura", 0.1),
    _c("furniture.bathroom.bath", 0.05, 341, 0.68, "triton cersanit sharking", 0.12),
    # -- apparel, accessories, kids ---------------------------------------------------------
    _c("apparel.shoes", 1.3, 90, 0.43, "respect salamander rieker shagovita baden marcomen", 0.14),
    _c("apparel.shoes.keds", 1.1, 72, 0.4, "respect strobbs asics adidas nike nexpero", 0.15),
    _c("apparel.shoes.sandals", 0.16, 34, 0.3, "rieker respect salamander suave ara", 0.04),
    _c("apparel.shoes.slipons", 0.1, 48, 0.48, "bugatti greyder nexpero caprice respect", 0.11),
    _c("apparel.costume", 0.09, 136, 0.6),
    _c("apparel.shoes.moccasins", 0.07, 80, 0.42, "etor destra caprice salamander"),
    _c("apparel.underwear", 0.04, 22, 0.35, "milavitsa"),
    _c("apparel.trousers", 0.03, 40, 0.4, "sly", 0.4),
    _c("apparel.dress", 0.03, 31, 0.25, "mltl sly"),
    _c("apparel.jeans", 0.01, 56, 0.4),
    _c("accessories.bag", 0.57, 64, 0.87, "karya baden rivacase lenovo xiaomi continent", 0.13),
    _c("accessories.wallet", 0.12, 39, 0.4, "karya picard petek"),
    _c("accessories.umbrella", 0.03, 25, 0.3, "xiaomi hoco"),
    _c("kids.carriage", 0.44, 118, 0.53, "belecoo wingoffly alis chicco coballe lorelli", 0.1),
    _c("kids.toys", 0.18, 23, 0.83, "chicco orange silverlit alilo fancy rastar", 0.25),
    _c("kids.skates", 0.14, 370, 0.71, "kugoo xiaomi maomaoku segway freefeet", 0.08),
    _c("kids.dolls", 0.09, 27, 0.72, "llorens mattel sariel", 0.44),
    _c("kids.fmcg.diapers", 0.06, 12.5, 0.6, "huggies pampers merries", 0.09),
    _c("kids.swing", 0.02, 273, 0.5),
    # -- auto, construction, sport, country yard, others ------------------------------------
    _c("auto.accessories.player", 1.4, 72, 0.65, "pioneer jvc nakamichi kenwood swat sony", 0.3),
    _c("auto.accessories.alarm", 0.77, 121, 0.42, "starline tomahawk centurion pandora cenmax"),
    _c("auto.accessories.videoregister", 0.44, 142, 0.71,
       "sho-me ibox prestigio neoline xiaomi subini", 0.25),
    _c("auto.accessories.compressor", 0.09, 119, 0.49, "berkut chameleon ryobi denzel", 0.4),
    _c("auto.accessories.radar", 0.03, 90, 0.7, "sho-me neoline ibox"),
    _c("auto.accessories.winch", 0.02, 581, 0.33, "t-max"),
    _c("auto.accessories.parktronic", 0.02, 31, 0.7, "parkmaster flashpoint"),
    _c("construction.tools.drill", 0.44, 82, 0.73, "bosch makita crown alteco dewalt total", 0.21),
    _c("construction.tools.saw", 0.38, 113, 0.9, "huter stihl makita bosch alteco dewalt", 0.15),
    _c("construction.tools.welding", 0.24, 201, 0.79,
       "magnetta denzel laston huter redbo fubag", 0.22),
    _c("construction.tools.pump", 0.2, 64, 0.65, "leo magnetta alteco greenpro pedrollo", 0.56),
    _c("construction.tools.light", 0.16, 7, 0.69, "eco garant lezard ansmann mantra", 0.68),
    _c("construction.tools.generator", 0.14, 90, 1.0, "huter denzel karcher elenberg fubag", 0.04),
    _c("construction.components.faucet", 0.02, 40, 0.46, "decoroom rossinka"),
    _c("sport.bicycle", 0.48, 268, 1.0, "axis giant phoenix torrent stels sunday", 0.02),
    _c("sport.trainer", 0.03, 450, 0.5, "housefit torneo"),
    _c("sport.snowboard", 0.01, 269, 0.44, "thule ride"),
    _c("sport.ski", 0.01, 334, 0.5, "elan fischer"),
    _c("sport.tennis", 0.01, 64, 1.0, "head wilson", 0.5),
    _c("country_yard.furniture.hammok", 0.03, 229, 1.0, "ventara palisad"),
    _c("country_yard.cultivator", 0.02, 126, 0.85, "huter viking"),
    _c("stationery.cartrige", 0.1, 11, 0.3, "hp canon epson"),
    _c("medicine.tools.tonometer", 0.05, 51, 0.4, "omron and microlife", 0.2),
    # -- uncoded categories (empty category_code, as a third of the real traffic) ------------
    _u("tyres", "auto", 4.4, 50, 0.5, "cordiant triangle nokian yokohama viatti michelin", 0.07),
    _u("jewellery", "accessories", 2.8, 230, 0.85, "lucente sokolov diamant efremov vega", 0.62),
    _u("kitchen_stoves", "appliances", 1.6, 250, 0.8, "dauscher artel bosch gefest hansa", 0.05),
    _u("bicycle_parts", "sport", 1.4, 86, 0.9, "stels force aeroforce wera tundra", 0.1),
    _u("perfume", "beauty", 1.0, 76, 0.9,
       "montale lanvin versace bulgari byredo shiseido creed", 0.45),
    _u("furniture_sets", "furniture", 1.0, 425, 0.55, "lider sv bts imperial mystar", 0.75),
    _u("kids_transport", "kids", 0.85, 278, 0.6, "skad kipardo trebl nitro rimax", 0.1),
    _u("wearable_bands", "electronics", 0.8, 30, 0.35,
       "xiaomi samsung honor huawei garmin", 0.0, 0.5),
    _u("personal_care", "appliances", 0.8, 36, 0.7,
       "vitek philips rowenta elenberg remington", 0.0),
    _u("home_textile", "home", 0.75, 99, 0.95, "nikotex balta confetti erkaplan kartal", 0.54),
    _u("car_batteries", "auto", 0.6, 55, 0.36, "bars crona genesis mutlu volta", 0.03),
    _u("tableware", "home", 0.5, 108, 0.55, "luminarc ikea carlsbad", 0.26),
    _u("game_consoles", "electronics", 0.45, 326, 0.9, "sony microsoft sega nintendo", 0.0),
    _u("climate_small", "appliances", 0.45, 49, 0.62,
       "polaris vitek xiaomi timberk electrolux", 0.0),
    _u("phone_cases", "electronics", 0.4, 15, 0.74, "samsung apple a-case nillkin takeit", 0.0),
    _u("gas_boilers", "construction", 0.4, 540, 0.55, "hubert bosch uno rinnai navien", 0.23),
    _u("cookware", "home", 0.33, 36, 0.72, "granhel rondell ikea tefal gipfel", 0.24),
    _u("car_care", "auto", 0.3, 34, 0.57, "cantra carfashion", 0.69),
    _u("cosmetics", "beauty", 0.3, 25, 0.95, "embryolisse gehwol arkadia vichy wonderlab", 0.2),
    _u("garden_machinery", "country_yard", 0.27, 149, 0.83,
       "karcher bosch huter denzel lutian", 0.02),
    _u("pools", "country_yard", 0.25, 197, 0.69, "riviera rush intex apache", 0.64),
    _u("car_electronics", "auto", 0.25, 45, 0.36, "laston neoline", 0.8),
    _u("mattresses", "furniture", 0.22, 153, 0.36, "askona vegas casper sonel swisshome", 0.31),
    _u("motor_oil", "auto", 0.2, 30, 0.75, "toyota petro-canada mobil yacco gazpromneft", 0.35),
    _u("stationery_goods", "stationery", 0.2, 8.7, 0.37),
    _u("video_games", "electronics", 0.18, 58, 0.72, "ea sony bethesda ubisoft", 0.35),
    _u("bath_cabins", "home", 0.16, 185, 0.45, "erlit domani-spa triton radaway", 0.04),
    _u("household", "home", 12.0, 75, 1.25,
       "xiaomi bosch polaris redmond tefal philips vitek samsung lg", 0.27, 1.6),
)
# fmt: on

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(c.group for c in CATEGORY_TREE))

# Log-price premium of some brands over their category (apple phones cost more than xiaomi's).
# Formatter off for this table of values: six brands a line reads better than one a line.
BRAND_PRICE_PREMIUM: dict[str, float] = {
    "apple": 0.9, "sony": 0.3, "bosch": 0.25, "samsung": 0.15, "lg": 0.1, "xiaomi": -0.35,
    "oppo": -0.2, "vivo": -0.2, "meizu": -0.4, "nokia": -0.4, "honor": -0.3, "realme": -0.4,
    "garmin": 0.6, "tissot": 0.8, "casio": -0.2, "amazfit": -0.3, "dell": 0.2, "msi": 0.3,
    "asus": 0.1, "acer": -0.2, "lenovo": -0.1, "sennheiser": 0.6, "jbl": 0.1, "elari": -0.5,
    "delonghi": 0.4, "karcher": 0.3, "makita": 0.3, "dewalt": 0.35, "stihl": 0.4, "nike": 0.3,
    "adidas": 0.3, "asics": 0.3, "versace": 0.3, "bulgari": 0.4, "creed": 0.7, "byredo": 0.6,
    "michelin": 0.3, "nokian": 0.2, "giant": 0.3, "bernina": 0.6, "smeg": 0.5, "indesit": -0.2,
    "beko": -0.2, "atlant": -0.1, "vitek": -0.3, "scarlett": -0.4, "polaris": -0.2,
    "elenberg": -0.4, "artel": -0.3, "texet": -0.5,
}  # fmt: skip


def _category_id(name: str) -> str:
    """Return a stable 19-digit REES46-like category id for ``name`` (seed-independent)."""
    h = derive_seed(0, "synth.simulate.category_id", name)
    return str(2_053_013_550_000_000_000 + h % 10_000_000_000)


@dataclass(frozen=True)
class CatalogPlan:
    """The catalog resolved for one simulation: per-category sizes and the lookup tables.

    Attributes:
        categories: The category tree.
        items_per_category: Number of products in each category (same order).
        id_stride: Size of each category's block of product ids.
        seed: The catalog's seed (derived from the root seed).
    """

    categories: tuple[Category, ...]
    items_per_category: tuple[int, ...]
    id_stride: int
    seed: int
    _brand_table: tuple[str, ...] = field(repr=False)
    _brand_premium: tuple[float, ...] = field(repr=False)

    @property
    def size(self) -> int:
        """Return the number of categories."""
        return len(self.categories)

    @property
    def items(self) -> int:
        """Return the total number of products."""
        return sum(self.items_per_category)

    # -- column builders --------------------------------------------------------------------
    def n_items(self, cat: Column) -> Column:
        """Return the number of products of category ``cat`` (``int``)."""
        return lookup(int_array(self.items_per_category), cat)

    def product_id(self, cat: Column, rank: Column) -> Column:
        """Return the product id (``long``) of the product with popularity ``rank`` in ``cat``.

        Ids are ``1_000_000 + cat * stride + slot`` where ``slot`` scatters the ranks over the
        block, so ids have 7-8 digits like the real ones and popularity does not follow id order.
        """
        n = self.n_items(cat).cast("long")
        scatter = derive_seed(self.seed, "slot") % _SLOT_PRIME
        slot = F.pmod((rank + F.lit(scatter)) * F.lit(_SLOT_PRIME), n)
        return F.lit(_PRODUCT_ID_BASE) + cat * F.lit(self.id_stride) + slot

    def price_z(self, cat: Column, rank: Column) -> Column:
        """Return the product's standard-normal price position within its category."""
        return key_normal(derive_seed(self.seed, "price"), cat, rank)

    def price_cents(
        self,
        cat: Column,
        rank: Column,
        *,
        z: Column | None = None,
        brand_slot: Column | None = None,
    ) -> Column:
        """Return the product's price in cents (``long``): log-normal per category.

        ``log(price) = log(median) + sigma * z + brand premium`` (premium-brand products cost
        more; the premiums are centred per category, so the median stays put).

        Args:
            cat: Category index.
            rank: Popularity rank.
            z: The product's :meth:`price_z` when the caller already has it (saves a draw).
            brand_slot: The product's :meth:`brand_slot` when the caller already has it.
        """
        mu = lookup(double_array([math.log(c.median_price) for c in self.categories]), cat)
        sigma = lookup(double_array([c.price_sigma for c in self.categories]), cat)
        z_col = self.price_z(cat, rank) if z is None else z
        slot = self.brand_slot(cat, rank) if brand_slot is None else brand_slot
        price = F.exp(mu + sigma * z_col + self.brand_premium(slot))
        cents = F.round(price * F.lit(100.0)).cast("long")
        return F.least(F.greatest(cents, F.lit(_MIN_PRICE_CENTS)), F.lit(_MAX_PRICE_CENTS))

    def price(self, cat: Column, rank: Column) -> Column:
        """Return the product's price as a string with two decimals (``"35.79"``)."""
        return format_cents(self.price_cents(cat, rank))

    def brand_slot(self, cat: Column, rank: Column) -> Column:
        """Return the product's slot in the brand table (``long``), or -1 when unbranded."""
        no_brand = lookup(double_array([c.no_brand for c in self.categories]), cat)
        unbranded = key_uniform(derive_seed(self.seed, "no_brand"), cat, rank) < no_brand
        u = key_uniform(derive_seed(self.seed, "brand"), cat, rank)
        slot = F.least(F.floor(u * F.lit(_BRAND_SLOTS)), F.lit(_BRAND_SLOTS - 1))
        return F.when(unbranded, F.lit(-1)).otherwise(cat * F.lit(_BRAND_SLOTS) + slot)

    def brand_name(self, slot: Column) -> Column:
        """Return the brand of a :meth:`brand_slot`, or null for unbranded products."""
        name = lookup(string_array(self._brand_table), F.greatest(slot, F.lit(0)))
        missing = (slot < F.lit(0)) | (name == F.lit(""))
        return F.when(missing, F.lit(None).cast("string")).otherwise(name)

    def brand_premium(self, slot: Column) -> Column:
        """Return the log-price premium of a :meth:`brand_slot`'s brand (0 when unbranded)."""
        premium = lookup(double_array(self._brand_premium), F.greatest(slot, F.lit(0)))
        return F.when(slot < F.lit(0), F.lit(0.0)).otherwise(premium)

    def brand(self, cat: Column, rank: Column) -> Column:
        """Return the product's brand, or null for unbranded products."""
        return self.brand_name(self.brand_slot(cat, rank))

    def category_id(self, cat: Column) -> Column:
        """Return the category's 19-digit id as a string."""
        return lookup(string_array([_category_id(c.name) for c in self.categories]), cat)

    def category_code(self, cat: Column) -> Column:
        """Return the category's code, or null for uncoded categories."""
        code = lookup(string_array([c.code or "" for c in self.categories]), cat)
        return F.when(code == F.lit(""), F.lit(None).cast("string")).otherwise(code)

    def uniform_category(self, u: Column) -> Column:
        """Return a category index drawn uniformly (bots crawl the whole tree)."""
        return F.least(F.floor(u * F.lit(self.size)), F.lit(self.size - 1)).cast("int")

    def weighted_category(
        self, packed: Column, resolution: int, u: Column, block: Column
    ) -> Column:
        """Return a category index from one block of a packed per-segment category table."""
        return choose_in(packed, resolution, u, block * F.lit(resolution))


def _brand_slots(category: Category, by_group: Mapping[str, Sequence[str]]) -> list[str]:
    brands = list(category.brands) or list(by_group.get(category.group, ()))
    if not brands:
        return [""] * _BRAND_SLOTS
    weights = [1.0 / (i + 1) ** _BRAND_ZIPF for i in range(len(brands))]
    return [brands[i] for i in quantize_weights(weights, _BRAND_SLOTS)]


def plan_catalog(
    seed: int, items: int, categories: Sequence[Category] = CATEGORY_TREE
) -> CatalogPlan:
    """Resolve the catalog for ``items`` products: per-category sizes and lookup tables.

    Sizes grow sub-linearly with traffic (``share ** 0.6``) times the category's breadth, at
    least 3 products per category. Runs on the driver only; triggers no Spark job.

    Args:
        seed: The root seed.
        items: Target number of products (the sum of the sizes lands close to it).
        categories: The category tree.

    Returns:
        The plan.
    """
    raw = [max(c.share, 1e-9) ** 0.6 * c.breadth for c in categories]
    total = sum(raw)
    sizes = tuple(max(3, round(items * r / total)) for r in raw)
    stride = max(100_000, 10 ** math.ceil(math.log10(max(sizes) + 1)))
    by_group: dict[str, list[str]] = {}
    for c in categories:
        for b in c.brands:
            by_group.setdefault(c.group, [])
            if b not in by_group[c.group]:
                by_group[c.group].append(b)
    brand_table: list[str] = []
    premium: list[float] = []
    for c in categories:
        slots = _brand_slots(c, by_group)
        raw = [BRAND_PRICE_PREMIUM.get(b, 0.0) for b in slots]
        centre = sum(raw) / len(raw)  # branded products average 0, as unbranded ones are
        brand_table.extend(slots)
        premium.extend(round(p - centre, 6) for p in raw)
    return CatalogPlan(
        categories=tuple(categories),
        items_per_category=sizes,
        id_stride=stride,
        seed=derive_seed(seed, "sim", "catalog"),
        _brand_table=tuple(brand_table),
        _brand_premium=tuple(premium),
    )
