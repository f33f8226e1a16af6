//! Every public-stream fixture (copied from the shared Bybit fixtures, see SOURCES.md there)
//! decodes to exactly the expected event, or to the expected error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};

use feed::bybit::public::ShortText;
use feed::bybit::{
    ControlReply, DecodeError, Level, MessageKind, PublicDecoder, PublicMessage, TickDirection,
    Ticker, Trade, UpdateKind,
};
use feed::{Fixed, FrameBuf, Side, Symbol};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bybit")
}

fn fx(text: &str) -> Fixed {
    text.parse().unwrap()
}

fn level(price: &str, size: &str) -> Level {
    Level {
        price: fx(price),
        size: fx(size),
    }
}

fn symbol(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

/// What one fixture must decode to, written out in full.
fn check(name: &str, decoder: &mut PublicDecoder, frame: &mut FrameBuf) {
    let result = decoder.decode(frame);
    match name {
        "ws_public_orderbook50_delta.json" => {
            let PublicMessage::Book(book) = result.unwrap() else {
                panic!("{name}")
            };
            assert_eq!(book.symbol, "BTCUSDT");
            assert_eq!(book.depth, 50);
            assert_eq!(book.kind, UpdateKind::Delta);
            assert_eq!((book.ts, book.cts), (1_687_940_967_466, 1_687_940_967_464));
            assert_eq!((book.update_id, book.seq), (177_400_507, 66_544_703_342));
            assert_eq!(
                book.bids,
                [
                    level("30247.20", "30.028"),
                    level("30245.40", "0.224"),
                    level("30242.10", "1.593"),
                    level("30240.30", "1.305"),
                    level("30240.00", "0"),
                ]
            );
            assert_eq!(
                book.asks,
                [
                    level("30248.70", "0"),
                    level("30249.30", "0.892"),
                    level("30249.50", "1.778"),
                    level("30249.60", "0"),
                    level("30251.90", "2.947"),
                    level("30252.20", "0.659"),
                    level("30252.50", "4.591"),
                ]
            );
        }
        "ws_public_orderbook50_snapshot.json" => {
            let PublicMessage::Book(book) = result.unwrap() else {
                panic!("{name}")
            };
            assert_eq!(book.symbol, "BTCUSDT");
            assert_eq!(book.kind, UpdateKind::Snapshot);
            assert_eq!((book.ts, book.cts), (1_672_304_484_978, 0));
            assert_eq!((book.update_id, book.seq), (18_521_288, 7_961_638_724));
            assert_eq!(
                book.bids,
                [level("16493.50", "0.006"), level("16493.00", "0.100")]
            );
            assert_eq!(
                book.asks,
                [level("16611.00", "0.029"), level("16612.00", "0.213")]
            );
        }
        "ws_public_trade.json" => {
            let PublicMessage::Trades(batch) = result.unwrap() else {
                panic!("{name}")
            };
            assert_eq!(batch.symbol, "BTCUSDT");
            assert_eq!(batch.ts, 1_672_304_486_868);
            assert_eq!(
                batch.trades,
                [Trade {
                    time: 1_672_304_486_865,
                    symbol: symbol("BTCUSDT"),
                    taker_side: Side::Buy,
                    size: fx("0.001"),
                    price: fx("16578.50"),
                    tick: TickDirection::PlusTick,
                    id: ShortText::new("20f43950-d8dd-5b31-9112-a178eb6023af").unwrap(),
                    block_trade: false,
                    rpi: false,
                    seq: 1_783_284_617,
                }]
            );
        }
        "ws_public_ticker_linear_snapshot.json" => {
            let PublicMessage::Ticker(ticker) = result.unwrap() else {
                panic!("{name}")
            };
            assert_eq!(
                *ticker,
                Ticker {
                    symbol: symbol("BTCUSDT"),
                    ts: 1_760_325_052_630,
                    cs: 9_532_239_429,
                    last_price: Some(fx("66666.60")),
                    mark_price: Some(fx("66666.60")),
                    index_price: Some(fx("115418.19")),
                    bid1_price: Some(fx("66666.60")),
                    bid1_size: Some(fx("23789.165")),
                    ask1_price: Some(fx("66666.70")),
                    ask1_size: Some(fx("23775.469")),
                    funding_rate: Some(fx("-0.005")),
                    next_funding_time: Some(1_760_342_400_000),
                    open_interest: Some(fx("492373.72")),
                    volume_24h: Some(fx("73191.3870")),
                    price_24h_pcnt: Some(fx("-0.158315")),
                }
            );
        }
        "ws_public_ticker_linear_futures_snapshot.json" => {
            let PublicMessage::Ticker(ticker) = result.unwrap() else {
                panic!("{name}")
            };
            assert_eq!(
                *ticker,
                Ticker {
                    symbol: symbol("BTC-26DEC25"),
                    ts: 1_760_409_119_857,
                    cs: 31_337_927_919,
                    last_price: Some(fx("109401.50")),
                    mark_price: Some(fx("121144.63")),
                    index_price: Some(fx("114132.51")),
                    bid1_price: Some(fx("111254.50")),
                    bid1_size: Some(fx("0.176")),
                    ask1_price: Some(fx("131001.00")),
                    ask1_size: Some(fx("0.580")),
                    funding_rate: None,
                    next_funding_time: None,
                    open_interest: Some(fx("6.622")),
                    volume_24h: Some(fx("0")),
                    price_24h_pcnt: Some(fx("0")),
                }
            );
        }
        "ws_public_pong_linear.json" | "ws_public_pong_spot.json" => {
            assert_eq!(
                result.unwrap(),
                PublicMessage::Control(ControlReply::Pong { server_time: None })
            );
        }
        "ws_public_pong_option.json" => assert_eq!(
            result.unwrap(),
            PublicMessage::Control(ControlReply::Pong {
                server_time: Some(1_672_916_271_846)
            })
        ),
        "ws_public_subscribe_response_linear.json" => assert_eq!(
            result.unwrap(),
            PublicMessage::Control(ControlReply::Subscribed {
                req_id: ShortText::EMPTY
            })
        ),
        "ws_public_subscribe_response_spot.json" => assert_eq!(
            result.unwrap(),
            PublicMessage::Control(ControlReply::Subscribed {
                req_id: ShortText::new("10001").unwrap()
            })
        ),
        // A request, not a reply: it has no `success`.
        "ws_public_unsubscribe_request.json" => {
            assert_eq!(result.unwrap_err(), DecodeError::MissingField("success"));
        }
        // The docs' verbatim blocks hold `...` elisions and `//` comments: not JSON.
        "ws_public_orderbook50_snapshot.docs_verbatim.txt"
        | "ws_public_subscribe_request.docs_verbatim.jsonc" => {
            assert!(
                matches!(result, Err(DecodeError::InvalidJson { .. })),
                "{name}: {result:?}"
            );
        }
        other => panic!("no expectation written for fixture {other}"),
    }
}

#[test]
fn every_public_fixture_decodes_exactly() {
    let mut names: Vec<String> = fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("ws_public_"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 13, "{names:?}");
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    for name in &names {
        frame.fill(&fs::read(fixtures_dir().join(name)).unwrap());
        check(name, &mut decoder, &mut frame);
    }
    let stats = decoder.stats();
    assert_eq!(stats.decoded(MessageKind::Orderbook), 2);
    assert_eq!(stats.decoded(MessageKind::PublicTrade), 1);
    assert_eq!(stats.decoded(MessageKind::Tickers), 2);
    assert_eq!(stats.decoded(MessageKind::Control), 5);
    assert_eq!(stats.errors(MessageKind::Control), 1);
    assert_eq!(stats.errors(MessageKind::Unknown), 2);
    assert_eq!(stats.total_errors(), 3);
}

fn decode_text(decoder: &mut PublicDecoder, text: &str) -> Result<String, DecodeError> {
    let mut frame = FrameBuf::default();
    decoder
        .decode_bytes(&mut frame, text.as_bytes())
        .map(|message| format!("{message:?}"))
}

#[test]
fn ticker_deltas_merge_into_the_snapshot() {
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    frame.fill(&fs::read(fixtures_dir().join("ws_public_ticker_linear_snapshot.json")).unwrap());
    decoder.decode(&mut frame).unwrap();
    let delta = r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"66666.50","bid1Size":"1.5","fundingRate":""},"cs":9532239430,"ts":1760325052730}"#;
    decode_text(&mut decoder, delta).unwrap();
    let ticker = decoder.ticker("BTCUSDT").unwrap();
    assert_eq!(ticker.bid1_price, Some(fx("66666.50")));
    assert_eq!(ticker.bid1_size, Some(fx("1.5")));
    assert_eq!(ticker.funding_rate, None);
    assert_eq!(
        ticker.ask1_price,
        Some(fx("66666.70")),
        "untouched by the delta"
    );
    assert_eq!((ticker.ts, ticker.cs), (1_760_325_052_730, 9_532_239_430));

    // A bad delta leaves the state as it was.
    let bad =
        r#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"bid1Price":"x"},"cs":1,"ts":2}"#;
    assert_eq!(
        decode_text(&mut decoder, bad),
        Err(DecodeError::BadNumber {
            field: "data",
            error: feed::ParseFixedError::InvalidCharacter(0)
        })
    );
    assert_eq!(
        decoder.ticker("BTCUSDT").unwrap().bid1_price,
        Some(fx("66666.50"))
    );
}

#[test]
fn subscribe_failures_name_the_topic() {
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    let text = r#"{"success":false,"ret_msg":"error:handler not found,topic:orderbook.50.NOPEUSDT","conn_id":"c","req_id":"7","op":"subscribe"}"#;
    let message = decoder.decode_bytes(&mut frame, text.as_bytes()).unwrap();
    assert_eq!(
        message,
        PublicMessage::Control(ControlReply::SubscribeFailed {
            req_id: ShortText::new("7").unwrap(),
            topic: ShortText::new("orderbook.50.NOPEUSDT").unwrap(),
            reason: ShortText::new("handler not found").unwrap(),
        })
    );
}

#[test]
fn malformed_messages_are_typed_errors() {
    let mut decoder = PublicDecoder::new();
    let cases: [(&str, DecodeError); 10] = [
        ("[1,2]", DecodeError::NotAnObject),
        (
            "{\"topic\":\"kline.1.BTCUSDT\",\"data\":[]}",
            DecodeError::UnknownTopic,
        ),
        (
            "{\"topic\":\"orderbook.7.BTCUSDT\",\"type\":\"delta\",\"ts\":1,\"data\":{}}",
            DecodeError::UnknownTopic,
        ),
        ("{\"foo\":1}", DecodeError::UnexpectedMessage),
        (
            "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":1,\"data\":{\"s\":\"BTCUSDT\",\"b\":[],\"a\":[],\"u\":\"1\"}}",
            DecodeError::BadField("data.u"),
        ),
        (
            "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":1,\"data\":{\"s\":\"BTCUSDT\",\"b\":[[\"1\"]],\"a\":[],\"u\":1}}",
            DecodeError::BadField("data.b"),
        ),
        (
            "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":1,\"data\":{\"s\":\"BTCUSDT\",\"b\":[[\"1e5\",\"1\"]],\"a\":[],\"u\":1}}",
            DecodeError::BadNumber {
                field: "data.b",
                error: feed::ParseFixedError::InvalidCharacter(1),
            },
        ),
        (
            "{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"update\",\"ts\":1,\"data\":{}}",
            DecodeError::BadField("type"),
        ),
        (
            "{\"topic\":\"publicTrade.BTCUSDT\",\"type\":\"snapshot\",\"ts\":1,\"data\":[{\"T\":1,\"S\":\"Up\",\"v\":\"1\",\"p\":\"1\"}]}",
            DecodeError::BadField("data[].S"),
        ),
        (
            "{\"topic\":\"publicTrade.BTCUSDT\",\"type\":\"snapshot\",\"ts\":1,\"data\":[{\"T\":1,\"S\":\"Buy\",\"v\":\"1\"}]}",
            DecodeError::MissingField("data[].p"),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(decode_text(&mut decoder, text), Err(expected), "{text}");
    }
    assert!(matches!(
        decode_text(&mut decoder, "{\"topic\":"),
        Err(DecodeError::InvalidJson { .. })
    ));
    assert_eq!(decoder.stats().total_errors(), 11);
}

#[test]
fn numbers_beyond_32_bits_and_unknown_fields_are_fine() {
    let mut decoder = PublicDecoder::new();
    let text = r#"{"ts":1,"topic":"orderbook.1.ETHUSDT","new_field":{"x":[1,2]},"type":"snapshot","data":{"seq":130020238981,"u":1,"s":"ETHUSDT","a":[["3000.01","2"]],"b":[["3000","1"]],"extra":true}}"#;
    let mut frame = FrameBuf::default();
    let PublicMessage::Book(book) = decoder.decode_bytes(&mut frame, text.as_bytes()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (book.depth, book.seq, book.update_id),
        (1, 130_020_238_981, 1)
    );
    assert_eq!(book.asks, [level("3000.01", "2")]);
}
