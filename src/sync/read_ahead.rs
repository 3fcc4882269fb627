//! Listing on its own task: the provider's pages are fetched and decoded on another worker
//! thread while the run ingests the previous one, so a two-core machine uses both cores
//! (HTTP, JSON decoding and mapping on one; planning and the store on the other). A bounded
//! channel keeps memory flat: at most `capacity` decoded pages wait for the engine.

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

/// Aborts the listing task when the run drops its stream (it finished, failed or was
/// cancelled), so no request is left running behind it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Drives `stream` on a spawned task into a channel of `capacity` items and returns the
/// receiving side. Outside a Tokio runtime (a host polling with another executor) the stream is
/// returned as it is, and is polled inline as before.
pub(super) fn read_ahead<T: Send + 'static>(
    mut stream: BoxStream<'static, T>,
    capacity: usize,
) -> BoxStream<'static, T> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return stream;
    };
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let task = runtime.spawn(async move {
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                return; // the run stopped listening
            }
        }
    });
    futures::stream::unfold((rx, AbortOnDrop(task)), |(mut rx, task)| async move {
        let item = rx.recv().await?;
        Some((item, (rx, task)))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn items_arrive_in_order_and_the_producer_stays_bounded() {
        let produced = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&produced);
        let source = futures::stream::iter(0..100)
            .map(move |i| {
                counter.fetch_add(1, Ordering::SeqCst);
                i
            })
            .boxed();
        let mut out = read_ahead(source, 2);
        assert_eq!(out.next().await, Some(0));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // One handed out, two in the channel, one held by the blocked `send`.
        assert!(produced.load(Ordering::SeqCst) <= 4, "{produced:?}");
        let rest: Vec<i32> = out.collect().await;
        assert_eq!(rest, (1..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn dropping_the_stream_stops_the_listing() {
        let produced = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&produced);
        let source = futures::stream::iter(0..)
            .then(move |i| {
                let counter = Arc::clone(&counter);
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                    i
                }
            })
            .boxed();
        let mut out = read_ahead(source, 1);
        assert_eq!(out.next().await, Some(0));
        drop(out);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let after_drop = produced.load(Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert_eq!(
            produced.load(Ordering::SeqCst),
            after_drop,
            "no more requests"
        );
    }

    #[test]
    fn without_a_runtime_the_stream_is_polled_inline() {
        let out = read_ahead(futures::stream::iter([1, 2, 3]).boxed(), 1);
        assert_eq!(
            futures::executor::block_on(out.collect::<Vec<_>>()),
            [1, 2, 3]
        );
    }
}
