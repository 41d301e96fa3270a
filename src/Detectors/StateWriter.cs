using System.Buffers.Binary;

namespace Fleet.Detectors;

/// <summary>Little-endian writer for detector checkpoints (used at checkpoints only, never per point).</summary>
internal sealed class StateWriter
{
    private readonly MemoryStream _stream = new();
    private readonly byte[] _scratch = new byte[8];

    public StateWriter(string tag)
    {
        foreach (var c in tag) _stream.WriteByte((byte)c);
        _stream.WriteByte(0);
    }

    public StateWriter Write(double v)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(_scratch, v);
        _stream.Write(_scratch, 0, 8);
        return this;
    }

    public StateWriter Write(long v)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_scratch, v);
        _stream.Write(_scratch, 0, 8);
        return this;
    }

    public StateWriter Write(int v)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_scratch, v);
        _stream.Write(_scratch, 0, 4);
        return this;
    }

    public StateWriter Write(ReadOnlySpan<double> values)
    {
        Write(values.Length);
        foreach (var v in values) Write(v);
        return this;
    }

    public StateWriter Write(ReadOnlySpan<float> values)
    {
        Write(values.Length);
        foreach (var v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(_scratch, v);
            _stream.Write(_scratch, 0, 4);
        }

        return this;
    }

    public StateWriter Write(ReadOnlySpan<int> values)
    {
        Write(values.Length);
        foreach (var v in values) Write(v);
        return this;
    }

    public StateWriter Write(ReadOnlySpan<byte> values)
    {
        Write(values.Length);
        _stream.Write(values);
        return this;
    }

    public byte[] ToArray() => _stream.ToArray();
}

/// <summary>Reads what <see cref="StateWriter"/> wrote; throws ArgumentException on a mismatched state.</summary>
internal ref struct StateReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public StateReader(ReadOnlySpan<byte> data, string tag)
    {
        _data = data;
        _pos = 0;
        foreach (var c in tag)
        {
            if (_pos >= data.Length || data[_pos] != (byte)c) throw Bad(tag);
            _pos++;
        }

        if (_pos >= data.Length || data[_pos] != 0) throw Bad(tag);
        _pos++;
    }

    private static ArgumentException Bad(string tag) => new($"state is not a '{tag}' detector state", "state");

    private ReadOnlySpan<byte> Take(int n)
    {
        if (_pos + n > _data.Length) throw new ArgumentException("state is truncated", "state");
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }

    public double ReadDouble() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

    /// <summary>A double that must be finite (a level, a scale, a quantile): anything else means a corrupt state.</summary>
    public double ReadFinite()
    {
        var v = ReadDouble();
        return double.IsFinite(v) ? v : throw new ArgumentException($"state is corrupt (a non-finite value, {v})", "state");
    }

    /// <summary><see cref="Read(Span{double})"/> for values that must all be finite.</summary>
    public void ReadFinite(scoped Span<double> into)
    {
        Read(into);
        foreach (var v in into)
        {
            if (!double.IsFinite(v)) throw new ArgumentException($"state is corrupt (a non-finite value, {v})", "state");
        }
    }

    public long ReadLong() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public int ReadInt() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public void Read(scoped Span<double> into)
    {
        if (ReadInt() != into.Length) throw new ArgumentException("state was saved with different parameters", "state");
        for (var i = 0; i < into.Length; i++) into[i] = ReadDouble();
    }

    public void Read(scoped Span<float> into)
    {
        if (ReadInt() != into.Length) throw new ArgumentException("state was saved with different parameters", "state");
        for (var i = 0; i < into.Length; i++) into[i] = BinaryPrimitives.ReadSingleLittleEndian(Take(4));
    }

    public void Read(scoped Span<int> into)
    {
        if (ReadInt() != into.Length) throw new ArgumentException("state was saved with different parameters", "state");
        for (var i = 0; i < into.Length; i++) into[i] = ReadInt();
    }

    public void Read(scoped Span<byte> into)
    {
        if (ReadInt() != into.Length) throw new ArgumentException("state was saved with different parameters", "state");
        Take(into.Length).CopyTo(into);
    }

    /// <summary>Reads a length-prefixed byte block written by Write(ReadOnlySpan&lt;byte&gt;).</summary>
    public ReadOnlySpan<byte> ReadBytes()
    {
        var n = ReadInt();
        if (n < 0) throw new ArgumentException("state is corrupt", "state");
        return Take(n);
    }

    /// <summary>Everything has been read (an optional trailing block is absent).</summary>
    public readonly bool AtEnd => _pos == _data.Length;

    public void End()
    {
        if (_pos != _data.Length) throw new ArgumentException("state has trailing bytes (different detector or parameters?)", "state");
    }
}
