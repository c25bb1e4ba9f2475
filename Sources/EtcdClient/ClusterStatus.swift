import Foundation

/// One member as the status command and the Members screen show it.
public struct MemberStatus: Sendable, Equatable {
    public var name: String
    public var id: UInt64
    /// The endpoint asked for this member's status (or the one that failed).
    public var endpoint: String
    public var version: String?
    public var isLeader: Bool?
    public var isLearner: Bool
    public var dbSize: Int64?
    public var dbSizeInUse: Int64?
    public var raftTerm: UInt64?
    public var raftIndex: UInt64?
    public var raftAppliedIndex: UInt64?
    /// Errors etcd reports for the member, raised alarms ("alarm: NOSPACE"), or why it did not answer.
    public var errors: [String]
    /// Round trip of one Status call on an open connection.
    public var latency: Duration?
    /// The revision the member has applied (its Status response header).
    public var revision: Int64?
    /// StatusResponse.dbSizeQuota (etcd 3.6+; nil from older members, which report 0).
    public var dbSizeQuota: Int64?
    /// False when the member did not answer.
    public var reachable: Bool { version != nil }

    /// The member ID as etcdctl prints it: lower-case hex without leading zeros.
    public var idHex: String { String(id, radix: 16) }

    /// What identifies the member from one refresh to the next: its ID, or its endpoint when the ID is not known.
    public var watchKey: String { id != 0 ? idHex : endpoint }
}

/// Since when each member has not answered, carried from one refresh to the next (the console's Members
/// screen, `status --watch`). A member that answers again is forgotten; one that keeps failing keeps its first time.
public struct MemberOutages: Sendable, Equatable {
    public private(set) var since: [String: Date] = [:]

    public init() {}

    public mutating func update(_ members: [MemberStatus], at date: Date) {
        var next: [String: Date] = [:]
        for member in members where !member.reachable {
            next[member.watchKey] = since[member.watchKey] ?? date
        }
        since = next
    }

    /// Every member of the last refresh is down (or the refresh failed altogether): keep the known outages and
    /// start the clock for the members not yet known to be down.
    public mutating func allDown(_ members: [MemberStatus], at date: Date) {
        for member in members where since[member.watchKey] == nil { since[member.watchKey] = date }
    }

    public subscript(member: MemberStatus) -> Date? { since[member.watchKey] }
}

extension Array where Element == MemberStatus {
    /// How many raft entries `member` is behind the leader (the leader's raft index minus the member's; 0 for the
    /// leader itself). Nil when there is no answering leader or the member did not report its index.
    public func raftLag(of member: MemberStatus) -> UInt64? {
        guard let leaderIndex = first(where: { $0.isLeader == true })?.raftIndex, let index = member.raftIndex else { return nil }
        return leaderIndex > index ? leaderIndex - index : 0
    }
}

extension MemberStatus {
    /// This member as one that stopped answering: who it is, nothing of what it said, and why.
    public func notAnswering(_ reason: String) -> MemberStatus {
        MemberStatus(name: name, id: id, endpoint: endpoint, isLearner: isLearner, errors: [reason])
    }

    /// An endpoint that did not answer at all: nothing is known but its URL and why (`reachable` is false).
    public init(endpoint: String, unreachable reason: String) {
        self.init(name: "", id: 0, endpoint: endpoint, version: nil, isLeader: nil, isLearner: false, dbSize: nil,
                  dbSizeInUse: nil, raftTerm: nil, raftIndex: nil, raftAppliedIndex: nil, errors: [reason], latency: nil)
    }
}

extension EtcdClient {
    /// The status of every member: MemberList from the first endpoint that answers, then Status from
    /// each member, asked through a configured endpoint that belongs to it or else its first client URL.
    /// Members that do not answer are listed with the reason. Throws only when no endpoint answers.
    public func clusterStatus() async throws -> [MemberStatus] {
        // Status of each configured endpoint first: it tells which member each endpoint is.
        let configured = configuration.endpoints
        var byMember: [UInt64: (Endpoint, Etcdserverpb_StatusResponse, Duration)] = [:]
        var endpointErrors: [EtcdClientError] = []
        await withTaskGroup(of: (Endpoint, Result<(Etcdserverpb_StatusResponse, Duration), EtcdClientError>).self) { group in
            for endpoint in configured {
                group.addTask { (endpoint, await self.timedStatus(endpoint)) }
            }
            for await (endpoint, result) in group {
                switch result {
                case .success(let (status, latency)):
                    if byMember[status.header.memberID] == nil { byMember[status.header.memberID] = (endpoint, status, latency) }
                case .failure(let error):
                    endpointErrors.append(error)
                }
            }
        }
        if byMember.isEmpty {
            if endpointErrors.count == 1 { throw endpointErrors[0] }
            throw EtcdClientError(.noEndpointAvailable, endpoint: "",
                                  "none of the \(endpointErrors.count) endpoints answered:", underlying: endpointErrors)
        }
        let members: [Etcdserverpb_Member]
        do {
            members = try await memberList().members
        } catch {
            // Without the member list, show what the endpoints said about themselves.
            return byMember.values.map { Self.row(name: "", id: $0.1.header.memberID, endpoint: $0.0, status: $0.1, latency: $0.2, alarms: []) }
                .sorted { $0.endpoint < $1.endpoint }
        }
        let alarms = (try? await self.alarms()) ?? []

        // Members no configured endpoint reached: try their advertised client URLs.
        var rows: [MemberStatus] = []
        await withTaskGroup(of: MemberStatus.self) { group in
            for member in members {
                let memberAlarms = alarms.filter { $0.memberID == member.id }
                if let (endpoint, status, latency) = byMember[member.id] {
                    rows.append(Self.row(name: member.name, id: member.id, endpoint: endpoint, status: status,
                                         latency: latency, alarms: memberAlarms, learner: member.isLearner))
                    continue
                }
                group.addTask {
                    var lastError = "no client URL advertised (not started yet?)"
                    var tried = ""
                    for url in member.clientUrls {
                        guard let endpoint = try? Endpoint(parsing: url) else { continue }
                        tried = endpoint.description
                        switch await self.timedStatus(endpoint) {
                        case .success(let (status, latency)):
                            return Self.row(name: member.name, id: member.id, endpoint: endpoint, status: status,
                                            latency: latency, alarms: memberAlarms, learner: member.isLearner)
                        case .failure(let error):
                            lastError = error.detail
                        }
                    }
                    return MemberStatus(name: member.name, id: member.id, endpoint: tried, isLearner: member.isLearner,
                                        errors: ["unreachable: \(lastError)"] + memberAlarms.map(Self.alarmText))
                }
            }
            for await row in group { rows.append(row) }
        }
        let order = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.id, $0) })
        return rows.sorted { (order[$0.id] ?? 0) < (order[$1.id] ?? 0) }
    }

    /// Status of one endpoint and the round trip of a second call on the now open connection.
    private func timedStatus(_ endpoint: Endpoint) async -> Result<(Etcdserverpb_StatusResponse, Duration), EtcdClientError> {
        do {
            _ = try await status(of: endpoint)
            let start = ContinuousClock.now
            let status = try await self.status(of: endpoint)
            return .success((status, ContinuousClock.now - start))
        } catch let error as EtcdClientError {
            return .failure(error)
        } catch {
            return .failure(EtcdClientError(.protocolError, endpoint: endpoint.description, "\(error)"))
        }
    }

    private static func alarmText(_ alarm: Etcdserverpb_AlarmMember) -> String {
        switch alarm.alarm {
        case .nospace: return "alarm: NOSPACE (the database hit its quota; compact, defragment, then disarm)"
        case .corrupt: return "alarm: CORRUPT (data inconsistency detected; restore this member from a snapshot)"
        default: return "alarm: \(alarm.alarm)"
        }
    }

    private static func row(name: String, id: UInt64, endpoint: Endpoint, status: Etcdserverpb_StatusResponse,
                            latency: Duration, alarms: [Etcdserverpb_AlarmMember], learner: Bool = false) -> MemberStatus {
        MemberStatus(name: name, id: id, endpoint: endpoint.description, version: status.version,
                     isLeader: status.leader != 0 && status.leader == status.header.memberID,
                     isLearner: learner || status.isLearner, dbSize: status.dbSize,
                     dbSizeInUse: status.dbSizeInUse == 0 ? nil : status.dbSizeInUse,
                     raftTerm: status.raftTerm, raftIndex: status.raftIndex,
                     raftAppliedIndex: status.raftAppliedIndex == 0 ? nil : status.raftAppliedIndex,
                     errors: status.errors + alarms.map(alarmText), latency: latency,
                     revision: status.header.revision, dbSizeQuota: status.dbSizeQuota == 0 ? nil : status.dbSizeQuota)
    }
}
