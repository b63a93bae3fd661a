//! Item metadata (titles, kinds, tags) for synthetic catalogues, tied to the planted topics.

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{Catalog, STREAM_ITEM_METADATA, SynthConfig, derive_seed};

/// Metadata of one synthetic item, for the service demo (search, filters, "because you liked").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthItem {
    /// The id used in the interaction file (`i<N>`).
    pub item_id: String,
    /// A made-up title.
    pub title: String,
    /// `track`, `album`, `podcast`, `live-session` or `audiobook`.
    pub kind: String,
    /// Genre (the item's planted genre), sub-genre (its topic), era and mood.
    pub tags: Vec<String>,
}

/// Genres with their sub-genres. Topic `t` is in genre `t % n_genres` and is named by sub-genre
/// `t / n_genres` of that genre (cycling when a genre has more topics than names).
pub(crate) const GENRES: [(&str, [&str; 4]); 12] = [
    ("rock", ["indie rock", "classic rock", "punk", "shoegaze"]),
    ("electronic", ["house", "techno", "ambient", "drum and bass"]),
    ("hip-hop", ["boom bap", "trap", "conscious rap", "lo-fi beats"]),
    ("jazz", ["bebop", "fusion", "vocal jazz", "cool jazz"]),
    ("classical", ["baroque", "romantic", "minimalism", "opera"]),
    ("pop", ["synth-pop", "k-pop", "dance pop", "art pop"]),
    ("folk", ["indie folk", "americana", "singer-songwriter", "celtic"]),
    ("metal", ["heavy metal", "doom", "thrash", "black metal"]),
    ("latin", ["reggaeton", "salsa", "bossa nova", "cumbia"]),
    ("r&b", ["neo soul", "funk", "motown", "contemporary r&b"]),
    ("country", ["bluegrass", "outlaw country", "country pop", "honky tonk"]),
    ("reggae", ["roots reggae", "dub", "dancehall", "ska"]),
];

const ERAS: [&str; 6] = ["60s", "70s", "80s", "90s", "2000s", "2010s"];
const MOODS: [&str; 6] = ["chill", "energetic", "melancholic", "upbeat", "dark", "romantic"];
const ADJECTIVES: [&str; 16] = [
    "Midnight", "Golden", "Electric", "Silent", "Broken", "Endless", "Velvet", "Neon", "Wild",
    "Hollow", "Crimson", "Distant", "Paper", "Burning", "Frozen", "Secret",
];
const NOUNS: [&str; 16] = [
    "Echoes",
    "Highway",
    "Garden",
    "Signals",
    "River",
    "Horizon",
    "Machines",
    "Letters",
    "Skyline",
    "Tides",
    "Mirrors",
    "Hearts",
    "Satellites",
    "Shadows",
    "Summer",
    "Frequencies",
];

/// Metadata for every item of the catalogue that [`super::generate_interactions`] uses with the
/// same config: item `i<N>`'s genre and sub-genre tags are those of its planted topic, so items
/// that are consumed together also share tags. Each topic also leans to one era (70 % of its
/// items). Deterministic for a config.
pub fn generate_items(cfg: &SynthConfig) -> Vec<SynthItem> {
    let catalog = Catalog::build(cfg);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(cfg.seed, STREAM_ITEM_METADATA));
    catalog
        .item_topic
        .iter()
        .enumerate()
        .map(|(i, &topic)| {
            let topic = topic as usize;
            let (genre, subgenres) = GENRES[topic % catalog.n_genres];
            let subgenre = subgenres[(topic / catalog.n_genres) % subgenres.len()];
            let era = if rng.random::<f64>() < 0.7 {
                ERAS[(topic * 7 + 3) % ERAS.len()]
            } else {
                ERAS[rng.random_range(0..ERAS.len())]
            };
            let mood = MOODS[rng.random_range(0..MOODS.len())];
            let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
            let noun = NOUNS[rng.random_range(0..NOUNS.len())];
            let kind_draw = rng.random::<f64>();
            let (kind, title) = if kind_draw < 0.80 {
                ("track", format!("{adjective} {noun}"))
            } else if kind_draw < 0.92 {
                ("album", format!("{adjective} {noun} (LP)"))
            } else if kind_draw < 0.96 {
                ("podcast", format!("The {noun} Podcast: {subgenre}"))
            } else if kind_draw < 0.99 {
                ("live-session", format!("{adjective} {noun} (Live)"))
            } else {
                ("audiobook", format!("{noun} of the {adjective} Age"))
            };
            SynthItem {
                item_id: format!("i{i}"),
                title,
                kind: kind.to_string(),
                tags: vec![
                    genre.to_string(),
                    subgenre.to_string(),
                    era.to_string(),
                    mood.to_string(),
                ],
            }
        })
        .collect()
}
