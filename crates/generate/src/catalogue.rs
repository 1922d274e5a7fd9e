//! The fixed world the events happen in: 50 products in 5 categories, each with a stable
//! name and unit price, 6 warehouses, suppliers and staff. Fixed so that the same product id
//! always means the same thing, whatever the seed.

use std::str::FromStr;

pub const PRODUCT_COUNT: usize = 50;
pub const CATEGORY_COUNT: usize = 5;
pub const WAREHOUSE_COUNT: usize = 6;

/// Language of the names in events (the original demo used Russian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    Ru,
    En,
}

impl FromStr for Locale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ru" => Ok(Locale::Ru),
            "en" => Ok(Locale::En),
            other => Err(format!(
                "unknown locale {other:?}: expected \"ru\" or \"en\""
            )),
        }
    }
}

/// (Russian, English) names of the categories, in the contract's order.
const CATEGORIES: [(&str, &str); CATEGORY_COUNT] = [
    ("Электроника", "Electronics"),
    ("Одежда", "Clothing"),
    ("Продукты", "Groceries"),
    ("Книги", "Books"),
    ("Бытовая техника", "Home appliances"),
];

/// Ten products per category: (Russian name, English name, unit price in kopecks).
/// Every name is two words, as in the contract; prices lie in 100..10000 roubles.
const PRODUCTS: [(&str, &str, u32); PRODUCT_COUNT] = [
    ("Смартфон Орбита", "Orbita smartphone", 899_000),
    ("Ноутбук Вектор", "Vector laptop", 999_900),
    ("Наушники Эхо", "Echo headphones", 459_000),
    ("Планшет Луна", "Luna tablet", 749_900),
    ("Колонка Бриз", "Breeze speaker", 289_000),
    ("Часы Пульс", "Pulse watch", 649_000),
    ("Роутер Сигнал", "Signal router", 329_900),
    ("Камера Объектив", "Lens camera", 979_000),
    ("Зарядка Импульс", "Impulse charger", 119_000),
    ("Клавиатура Ритм", "Rhythm keyboard", 249_900),
    ("Куртка Северная", "Northern jacket", 799_000),
    ("Джинсы Классика", "Classic jeans", 349_900),
    ("Футболка Базовая", "Basic tee", 99_000),
    ("Свитер Уютный", "Cosy sweater", 279_000),
    ("Кроссовки Темп", "Tempo sneakers", 599_000),
    ("Платье Летнее", "Summer dress", 429_900),
    ("Шапка Зимняя", "Winter hat", 89_900),
    ("Рубашка Офисная", "Office shirt", 249_000),
    ("Шарф Мягкий", "Soft scarf", 149_900),
    ("Брюки Строгие", "Formal trousers", 389_000),
    ("Кофе Зерновой", "Bean coffee", 89_900),
    ("Чай Травяной", "Herbal tea", 34_900),
    ("Сыр Твёрдый", "Hard cheese", 64_900),
    ("Мёд Липовый", "Linden honey", 79_000),
    ("Шоколад Горький", "Dark chocolate", 14_900),
    ("Масло Оливковое", "Olive oil", 119_900),
    ("Орехи Грецкие", "Walnut kernels", 69_900),
    ("Паста Итальянская", "Italian pasta", 19_900),
    ("Рис Басмати", "Basmati rice", 24_900),
    ("Варенье Вишнёвое", "Cherry jam", 39_900),
    ("Роман Путешествие", "Journey novel", 69_900),
    ("Учебник Алгебры", "Algebra textbook", 89_000),
    ("Детектив Туман", "Fog thriller", 54_900),
    ("Атлас Мира", "World atlas", 149_000),
    ("Сказки Народные", "Folk tales", 44_900),
    ("Поэзия Серебряная", "Silver poetry", 39_000),
    ("Энциклопедия Науки", "Science encyclopedia", 299_000),
    ("Комикс Герои", "Heroes comic", 29_900),
    ("Словарь Английский", "English dictionary", 109_000),
    ("Биография Учёного", "Scientist biography", 79_900),
    ("Пылесос Вихрь", "Whirl vacuum", 899_900),
    ("Чайник Быстрый", "Quick kettle", 249_000),
    ("Микроволновка Тепло", "Warmth microwave", 699_000),
    ("Утюг Гладкий", "Smooth iron", 349_000),
    ("Блендер Мощный", "Power blender", 459_900),
    ("Тостер Утренний", "Morning toaster", 199_000),
    ("Фен Ветерок", "Breeze hairdryer", 299_900),
    ("Кофеварка Эспрессо", "Espresso machine", 949_000),
    ("Обогреватель Уют", "Cosy heater", 399_000),
    ("Вентилятор Прохлада", "Cool fan", 259_000),
];

const WAREHOUSES: [(&str, &str); WAREHOUSE_COUNT] = [
    ("Москва", "Moscow"),
    ("Волгоград", "Volgograd"),
    ("Санкт-Петербург", "Saint Petersburg"),
    ("Казань", "Kazan"),
    ("Новосибирск", "Novosibirsk"),
    ("Екатеринбург", "Yekaterinburg"),
];

const SUPPLIERS: [(&str, &str); 8] = [
    ("ООО «Восток-Снаб»", "Vostok Supply LLC"),
    ("АО «Торговый Дом Север»", "North Trading House JSC"),
    ("ООО «Логистик Плюс»", "Logistic Plus LLC"),
    ("ИП Смирнов А. В.", "Smirnov A. V., sole trader"),
    ("ООО «Мега Дистрибуция»", "Mega Distribution LLC"),
    ("АО «Уральские Поставки»", "Ural Supplies JSC"),
    ("ООО «Волга Трейд»", "Volga Trade LLC"),
    ("ООО «Сибирский Склад»", "Siberian Storage LLC"),
];

const STAFF: [(&str, &str); 12] = [
    ("Иванов Иван", "Ivan Ivanov"),
    ("Петрова Анна", "Anna Petrova"),
    ("Сидоров Пётр", "Pyotr Sidorov"),
    ("Кузнецова Мария", "Maria Kuznetsova"),
    ("Смирнов Алексей", "Alexey Smirnov"),
    ("Попова Елена", "Elena Popova"),
    ("Волков Дмитрий", "Dmitry Volkov"),
    ("Соколова Ольга", "Olga Sokolova"),
    ("Морозов Сергей", "Sergey Morozov"),
    ("Новикова Татьяна", "Tatiana Novikova"),
    ("Фёдоров Андрей", "Andrey Fyodorov"),
    ("Лебедева Наталья", "Natalia Lebedeva"),
];

#[derive(Debug, Clone)]
pub struct Product {
    /// 1..=50, as in the contract.
    pub id: u32,
    pub name: &'static str,
    pub category: &'static str,
    /// Unit price in kopecks (hundredths), so money stays exact.
    pub price_cents: u32,
}

/// Names resolved for one locale.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub products: Vec<Product>,
    pub warehouses: Vec<&'static str>,
    pub suppliers: Vec<&'static str>,
    pub staff: Vec<&'static str>,
}

fn pick(pair: (&'static str, &'static str), locale: Locale) -> &'static str {
    match locale {
        Locale::Ru => pair.0,
        Locale::En => pair.1,
    }
}

impl Catalogue {
    pub fn new(locale: Locale) -> Self {
        let products = PRODUCTS
            .iter()
            .enumerate()
            .map(|(i, &(ru, en, price_cents))| Product {
                id: i as u32 + 1,
                name: pick((ru, en), locale),
                category: pick(CATEGORIES[i / (PRODUCT_COUNT / CATEGORY_COUNT)], locale),
                price_cents,
            })
            .collect();
        Catalogue {
            products,
            warehouses: WAREHOUSES.iter().map(|&w| pick(w, locale)).collect(),
            suppliers: SUPPLIERS.iter().map(|&s| pick(s, locale)).collect(),
            staff: STAFF.iter().map(|&s| pick(s, locale)).collect(),
        }
    }

    pub fn categories(locale: Locale) -> Vec<&'static str> {
        CATEGORIES.iter().map(|&c| pick(c, locale)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_matches_the_contract() {
        for locale in [Locale::Ru, Locale::En] {
            let c = Catalogue::new(locale);
            assert_eq!(c.products.len(), 50);
            assert_eq!(c.warehouses.len(), 6);
            for p in &c.products {
                assert!((1..=50).contains(&p.id));
                assert!(
                    (10_000..=1_000_000).contains(&p.price_cents),
                    "{} costs {}",
                    p.name,
                    p.price_cents
                );
                assert_eq!(
                    p.name.split(' ').count(),
                    2,
                    "{:?} is not two words",
                    p.name
                );
            }
            let cats: std::collections::BTreeSet<_> =
                c.products.iter().map(|p| p.category).collect();
            assert_eq!(cats.len(), 5);
        }
        assert_eq!(
            Catalogue::categories(Locale::Ru),
            [
                "Электроника",
                "Одежда",
                "Продукты",
                "Книги",
                "Бытовая техника"
            ]
        );
    }
}
