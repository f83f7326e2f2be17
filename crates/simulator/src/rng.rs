//! The simulator's randomness: SplitMix64 (Steele, Lea and Flood 2014), a few lines with no
//! dependency, seeded from `--seed` and split into independent streams per app, day and purpose,
//! so adding an app or a kind of event never shifts another stream's draws.

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (also a good 64-bit mixer).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a label, to name a stream.
fn label_hash(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream named by `label` and `n` (e.g. an app's bundle id and a day).
    pub fn stream(seed: u64, label: &str, n: u64) -> Rng {
        Rng(mix(
            seed ^ mix(label_hash(label) ^ mix(n.wrapping_add(GOLDEN)))
        ))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) (n > 0), without modulo bias worth speaking of (Lemire's product).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// A Poisson count with mean `lambda`: Knuth's product for small means, a rounded normal
    /// (Box–Muller) for large ones.
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            let l = (-lambda).exp();
            let (mut k, mut p) = (0u64, 1.0);
            loop {
                p *= self.f64();
                if p <= l {
                    return k;
                }
                k += 1;
            }
        }
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (lambda + z * lambda.sqrt()).round().max(0.0) as u64
    }

    /// An index drawn by weight from cumulative weights (`cum` ascending, last = total > 0).
    pub fn pick_cum(&mut self, cum: &[u32]) -> usize {
        let total = *cum.last().expect("weights");
        let x = self.below(u64::from(total)) as u32;
        cum.partition_point(|&c| c <= x)
    }
}

/// Cumulative weights of `w` (for [`Rng::pick_cum`]).
pub fn cumulative(w: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut acc = 0;
    w.into_iter()
        .map(|x| {
            acc += x;
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence_for_seed_zero() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::stream(42, "app", 7).next_u64())
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::stream(42, "app", 7).next_u64(),
            Rng::stream(42, "app", 8).next_u64()
        );
        assert_ne!(
            Rng::stream(42, "app", 7).next_u64(),
            Rng::stream(43, "app", 7).next_u64()
        );
    }

    #[test]
    fn draws_stay_in_range_and_have_the_right_means() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let mut sum_f = 0.0;
        for _ in 0..n {
            let f = r.f64();
            assert!((0.0..1.0).contains(&f));
            sum_f += f;
            assert!(r.below(7) < 7);
        }
        assert!((sum_f / n as f64 - 0.5).abs() < 0.01);
        for lambda in [0.5, 4.0, 1000.0] {
            let mean = (0..n).map(|_| r.poisson(lambda) as f64).sum::<f64>() / n as f64;
            assert!(
                (mean - lambda).abs() < lambda.sqrt() * 0.05 + 0.02,
                "{lambda}: {mean}"
            );
        }
        let cum = cumulative([1, 0, 3]);
        let mut seen = [0; 3];
        for _ in 0..n {
            seen[r.pick_cum(&cum)] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!((seen[2] as f64 / n as f64 - 0.75).abs() < 0.02);
    }
}
