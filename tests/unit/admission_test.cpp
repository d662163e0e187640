// Admission: backpressure refusals in their order, with the limit and its value named, and which
// storage failure refuses an intent how.
#include "intake/admission.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace purgeq {
namespace {

Config::Storage storage(long long max_pending, long long max_mb) {
  Config::Storage s;
  s.path = "/var/lib/purgeq/queue.db";
  s.max_pending_items = max_pending;
  s.max_size_mb = max_mb;
  return s;
}

TEST(Admission, AnIntentThatFitsIsAdmitted) {
  EXPECT_FALSE(admit_intent(QueueLoad{90, 0, false}, storage(100, 0), 10));
  EXPECT_FALSE(admit_intent(QueueLoad{0, 5 * 1024 * 1024 - 1, false}, storage(100, 5), 1));
}

TEST(Admission, TheQueueLimitCountsTheNewItems) {
  const auto refused = admit_intent(QueueLoad{90, 0, false}, storage(100, 0), 11);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, ErrorCode::queue_full);
  EXPECT_EQ(refused->message,
            "the queue holds 90 pending items and storage.max_pending_items is 100; try again "
            "when it has drained");
  EXPECT_TRUE(refused->item.empty());
}

TEST(Admission, TheDatabaseSizeLimitHoldsOnlyWhenSet) {
  const QueueLoad big{0, std::int64_t{7} * 1024 * 1024, false};
  EXPECT_FALSE(admit_intent(big, storage(100, 0), 1)) << "max_size_mb 0: no limit";
  const auto refused = admit_intent(big, storage(100, 7), 1);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, ErrorCode::storage_full);
  EXPECT_EQ(refused->message,
            "the database uses 7 MiB and storage.max_size_mb is 7; try again when the queue has "
            "drained");
}

TEST(Admission, AFullDiskRefusesAndTheQueueLimitIsNamedFirst) {
  const auto disk = admit_intent(QueueLoad{0, 0, true}, storage(100, 0), 1);
  ASSERT_TRUE(disk);
  EXPECT_EQ(disk->code, ErrorCode::disk_full);
  EXPECT_NE(disk->message.find("the disk holding /var/lib/purgeq/queue.db is full"),
            std::string::npos)
      << disk->message;
  // Everything wrong at once: the first check wins, so the answer does not flicker between them.
  const auto all =
      admit_intent(QueueLoad{100, std::int64_t{9} * 1024 * 1024, true}, storage(100, 1), 1);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->code, ErrorCode::queue_full);
}

TEST(Admission, TheLoadComesFromTheSnapshotsPendingAndInFlightItems) {
  StoreSnapshot snapshot;
  auto& groups = snapshot.counts.zones["z"];
  groups[0][static_cast<std::size_t>(TargetState::pending)] = 5;
  groups[0][static_cast<std::size_t>(TargetState::in_flight)] = 3;
  groups[0][static_cast<std::size_t>(TargetState::failed)] = 100;
  snapshot.size_bytes = 4096;
  snapshot.disk_full = true;
  const QueueLoad load = queue_load(snapshot);
  EXPECT_EQ(load.queued, 8);
  EXPECT_EQ(load.size_bytes, 4096);
  EXPECT_TRUE(load.disk_full);
}

TEST(Admission, StorageFailuresRefuseWithTheirCause) {
  const StorageFullError full("database or disk is full");
  const std::runtime_error broken("database disk image is malformed");
  const auto local_full = storage_refusal(full, false);
  EXPECT_EQ(local_full.code, ErrorCode::disk_full);
  EXPECT_EQ(local_full.message, "could not store the intent: database or disk is full");
  const auto local_broken = storage_refusal(broken, false);
  EXPECT_EQ(local_broken.code, ErrorCode::storage_unavailable);
  EXPECT_EQ(local_broken.message, "could not store the intent: database disk image is malformed");
  // A network client learns only that it may retry; the log has the rest.
  const auto remote = storage_refusal(broken, true);
  EXPECT_EQ(remote.code, ErrorCode::storage_unavailable);
  EXPECT_EQ(remote.message, "could not store the intent; try again later");
  EXPECT_EQ(shutting_down_error().code, ErrorCode::shutting_down);
}

}  // namespace
}  // namespace purgeq
